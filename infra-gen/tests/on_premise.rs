//! The route to the on-premise endpoint: an on-premise endpoint has a link and only it has one; the ranges
//! routed, the security group's egress, the DNS servers and the endpoint's URL agree; the link's values are
//! ones AWS accepts; and every kind of link renders routes to the on-premise ranges only, over the link, a
//! forwarding rule for the on-premise domain only, and Terraform that `terraform validate` accepts.

mod common;

use std::collections::BTreeMap;

use common::{Case, assert_each_rejected, assert_rejects, json, production, rendered, valid};
use infra_gen::config::{
    Endpoint, Environment, Link, OnPremise, Sink, Vpn, VpnGateway, VpnRouting,
};
use serde_json::Value;

const TGW: &str = "tgw-0123456789abcdef0";
const DX_GATEWAY: &str = "5f294f92-bafb-4011-916d-9b0bd0d0e0f0";

fn on_premise(env: &mut Environment) -> &mut OnPremise {
    env.network
        .on_premise
        .as_mut()
        .expect("production() declares a link")
}

fn vpn(env: &mut Environment) -> &mut Vpn {
    match &mut on_premise(env).link {
        Link::Vpn(vpn) => vpn,
        other => panic!("production() declares a VPN, not {other:?}"),
    }
}

fn set_url(env: &mut Environment, new_url: &str) {
    if let Sink::Nifi(Endpoint::OnPremise { url, .. }) = &mut env.sink {
        *url = new_url.into();
    }
}

#[test]
fn an_on_premise_endpoint_needs_a_link_and_only_it_has_one() {
    let mut env = production();
    env.network.on_premise = None;
    assert_rejects(env, "network.on_premise", "nothing routes the VPC to it");

    let mut env = valid();
    env.network.on_premise = production().network.on_premise;
    assert_rejects(env, "network.on_premise", "remove network.on_premise");
}

#[test]
fn the_routed_ranges_are_on_premise_ranges_only() {
    let cases: &[Case] = &[
        (
            |e| on_premise(e).cidrs = vec!["0.0.0.0/0".into(), "10.100.0.0/16".into()],
            "network.on_premise.cidrs",
            "is the default route",
        ),
        (
            |e| on_premise(e).cidrs.push("10.20.0.0/20".into()),
            "network.on_premise.cidrs",
            "overlaps the VPC's range 10.20.0.0/16",
        ),
        (
            |e| on_premise(e).cidrs.push("169.254.0.0/24".into()),
            "network.on_premise.cidrs",
            "the VPC's own services",
        ),
        (
            |e| on_premise(e).cidrs.push("10.100.4.0/24".into()),
            "network.on_premise.cidrs",
            "overlaps 10.100.0.0/16",
        ),
        (
            |e| on_premise(e).cidrs = vec!["10.100.1.1/16".into()],
            "network.on_premise.cidrs",
            "the range it means is 10.100.0.0/16",
        ),
        (
            |e| on_premise(e).cidrs.clear(),
            "network.on_premise.cidrs",
            "list the on-premise ranges",
        ),
        (
            |e| e.network.private_subnets[1].cidr = "10.21.2.0/24".into(),
            "network.private_subnets[1].cidr",
            "not inside the VPC's range",
        ),
    ];
    assert_each_rejected(production, cases);
}

#[test]
fn egress_routes_and_the_endpoints_address_agree() {
    let cases: &[Case] = &[
        (
            |e| on_premise(e).cidrs = vec!["10.100.1.0/24".into()],
            "sink",
            "but no route leads there",
        ),
        (
            |e| set_url(e, "https://nifi.example.internal:8443/contentListener"),
            "sink",
            "the URL's port 8443 is not the port the security group allows (443)",
        ),
        (
            |e| set_url(e, "https://10.100.9.9/contentListener"),
            "sink",
            "outside the endpoint's ranges",
        ),
        (
            |e| set_url(e, "https://nifi.elsewhere.internal/contentListener"),
            "network.on_premise.dns.domain",
            "not under the forwarded domain",
        ),
        (
            |e| {
                on_premise(e).dns = None;
            },
            "network.on_premise.dns",
            "nothing in the VPC can resolve on-premise names",
        ),
        (
            |e| {
                set_url(
                    e,
                    "https://user:secret@nifi.example.internal/contentListener",
                )
            },
            "sink",
            "belong in the secret",
        ),
    ];
    assert_each_rejected(production, cases);

    // An address needs no DNS, when the security group lets out to it.
    let mut env = production();
    set_url(&mut env, "https://10.100.0.7/contentListener");
    on_premise(&mut env).dns = None;
    let files = rendered(env);
    assert!(
        !files["network.tf.json"].contains("aws_route53_resolver"),
        "no resolver without a domain to forward"
    );
}

#[test]
fn the_forwarded_domain_and_servers_are_checked() {
    fn dns(e: &mut Environment) -> &mut infra_gen::config::OnPremiseDns {
        on_premise(e)
            .dns
            .as_mut()
            .expect("production() forwards a domain")
    }
    let cases: &[Case] = &[
        (
            |e| {
                dns(e).servers.push("10.200.0.1".into());
            },
            "network.on_premise.dns.servers",
            "is not in a routed range",
        ),
        (
            |e| dns(e).servers.clear(),
            "network.on_premise.dns.servers",
            "list the on-premise DNS servers",
        ),
        (
            |e| dns(e).servers.push("10.100.1.10".into()),
            "network.on_premise.dns.servers",
            "listed twice",
        ),
        (
            |e| dns(e).servers.push("dns1".into()),
            "network.on_premise.dns.servers",
            "not an IPv4 address",
        ),
        (
            |e| {
                dns(e).domain = "internal".into();
                set_url(e, "https://nifi.example.internal/contentListener");
            },
            "network.on_premise.dns.domain",
            "a name the function must resolve in AWS",
        ),
        (
            |e| {
                dns(e).domain = "com".into();
                set_url(e, "https://nifi.example.com/contentListener");
            },
            "network.on_premise.dns.domain",
            "sqs.eu-west-2.amazonaws.com",
        ),
        (
            |e| dns(e).domain = "example.internal.".into(),
            "network.on_premise.dns.domain",
            "without a trailing dot",
        ),
    ];
    assert_each_rejected(production, cases);
}

#[test]
fn the_links_values_are_ones_aws_accepts() {
    let cases: &[Case] = &[
        (
            |e| vpn(e).customer_gateway.ip_address = "10.1.2.3".into(),
            "network.on_premise.link",
            "not a public address",
        ),
        (
            |e| vpn(e).customer_gateway.ip_address = "gateway.example.com".into(),
            "network.on_premise.link",
            "not an IPv4 address",
        ),
        (
            |e| vpn(e).customer_gateway.bgp_asn = 64512,
            "network.on_premise.link",
            "needs two different ASNs",
        ),
        (
            |e| vpn(e).customer_gateway.bgp_asn = 0,
            "network.on_premise.link",
            "1 to 4,294,967,295",
        ),
        (
            |e| {
                e.region = "eu-west-1".into();
                for (subnet, zone) in e.network.private_subnets.iter_mut().zip(["a", "b"]) {
                    subnet.availability_zone = format!("eu-west-1{zone}");
                }
                vpn(e).customer_gateway.bgp_asn = 9059;
            },
            "network.on_premise.link",
            "reserved in eu-west-1",
        ),
        (
            |e| {
                vpn(e).gateway = VpnGateway::VirtualPrivateGateway {
                    amazon_side_asn: 65535,
                }
            },
            "network.on_premise.link",
            "64512 to 65534",
        ),
        (
            |e| {
                vpn(e).gateway = VpnGateway::TransitGateway {
                    transit_gateway_id: "tgw-xyz".into(),
                }
            },
            "network.on_premise.link",
            "8 or 17 lowercase hexadecimal digits",
        ),
        (
            |e| {
                on_premise(e).link = Link::DirectConnect {
                    gateway_id: "dxgw-123".into(),
                    amazon_side_asn: 64512,
                }
            },
            "network.on_premise.link",
            "a UUID",
        ),
    ];
    assert_each_rejected(production, cases);
}

/// Every kind of link the model offers, on the production test environment.
fn links() -> Vec<(&'static str, Link)> {
    let Some(Link::Vpn(vpn)) = production().network.on_premise.map(|o| o.link) else {
        panic!("production() declares a VPN");
    };
    let on_tgw = VpnGateway::TransitGateway {
        transit_gateway_id: TGW.into(),
    };
    vec![
        (
            "vpn on a virtual private gateway, BGP",
            Link::Vpn(vpn.clone()),
        ),
        (
            "vpn on a virtual private gateway, static",
            Link::Vpn(Vpn {
                routing: VpnRouting::Static,
                ..vpn.clone()
            }),
        ),
        (
            "vpn on a transit gateway, BGP",
            Link::Vpn(Vpn {
                gateway: on_tgw.clone(),
                ..vpn.clone()
            }),
        ),
        (
            "vpn on a transit gateway, static",
            Link::Vpn(Vpn {
                gateway: on_tgw,
                routing: VpnRouting::Static,
                ..vpn
            }),
        ),
        (
            "transit gateway",
            Link::TransitGateway {
                transit_gateway_id: TGW.into(),
            },
        ),
        (
            "direct connect gateway",
            Link::DirectConnect {
                gateway_id: DX_GATEWAY.into(),
                amazon_side_asn: 64513,
            },
        ),
    ]
}

/// The environment with this link, two on-premise ranges and the endpoint's range inside the first.
fn with_link(link: Link) -> Environment {
    let mut env = production();
    let on_premise = on_premise(&mut env);
    on_premise.link = link;
    on_premise.cidrs = vec!["10.100.0.0/16".into(), "192.168.50.0/24".into()];
    env
}

fn resources<'a>(network: &'a Value, ty: &str) -> BTreeMap<&'a str, &'a Value> {
    network["resource"][ty]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

#[test]
fn every_link_routes_the_on_premise_ranges_only_over_itself() {
    for (what, link) in links() {
        let files = rendered(with_link(link.clone()));
        let network = json(&files, "network.tf.json");
        let routes = resources(&network, "aws_route");
        // The private subnets' table has a route per on-premise range and no other (prod has no NAT).
        let mut destinations: Vec<&str> = routes
            .values()
            .map(|r| r["destination_cidr_block"].as_str().unwrap_or_default())
            .collect();
        destinations.sort();
        assert_eq!(destinations, ["10.100.0.0/16", "192.168.50.0/24"], "{what}");
        let over_tgw = matches!(
            link,
            Link::TransitGateway { .. }
                | Link::Vpn(Vpn {
                    gateway: VpnGateway::TransitGateway { .. },
                    ..
                })
        );
        for (name, route) in &routes {
            assert_eq!(
                route["route_table_id"], "${aws_route_table.private.id}",
                "{what} {name}"
            );
            if over_tgw {
                assert_eq!(route["transit_gateway_id"], TGW, "{what} {name}");
                assert_eq!(
                    route["depends_on"],
                    serde_json::json!(["aws_ec2_transit_gateway_vpc_attachment.on_premise"]),
                    "{what} {name}"
                );
                assert!(route.get("gateway_id").is_none(), "{what} {name}");
            } else {
                assert_eq!(
                    route["gateway_id"], "${aws_vpn_gateway.on_premise.id}",
                    "{what} {name}"
                );
            }
        }
        // The Transit Gateway carries the private subnets; a virtual private gateway sits in the VPC.
        let attachments = resources(&network, "aws_ec2_transit_gateway_vpc_attachment");
        let gateways = resources(&network, "aws_vpn_gateway");
        if over_tgw {
            let attachment = attachments["on_premise"];
            assert_eq!(attachment["transit_gateway_id"], TGW, "{what}");
            assert_eq!(
                attachment["subnet_ids"],
                serde_json::json!(["${aws_subnet.private_a.id}", "${aws_subnet.private_b.id}"]),
                "{what}"
            );
            assert!(gateways.is_empty(), "{what}");
        } else {
            assert!(attachments.is_empty(), "{what}");
            assert_eq!(
                gateways["on_premise"]["vpc_id"], "${aws_vpc.network.id}",
                "{what}"
            );
        }
        // Nothing propagates routes into the table: only the declared ranges are routed.
        assert!(
            resources(&network, "aws_vpn_gateway_route_propagation").is_empty(),
            "{what}"
        );
    }
}

#[test]
fn vpns_pin_their_tunnels_and_keep_their_keys_out_of_the_state() {
    for (what, link) in links() {
        let Link::Vpn(vpn) = &link else { continue };
        let files = rendered(with_link(link.clone()));
        let network = json(&files, "network.tf.json");
        let connection = resources(&network, "aws_vpn_connection")["on_premise"];
        let customer = resources(&network, "aws_customer_gateway")["on_premise"];
        assert_eq!(customer["ip_address"], "203.0.113.10", "{what}");
        assert_eq!(customer["bgp_asn"], "65010", "{what}");
        assert_eq!(
            connection["preshared_key_storage"], "SecretsManager",
            "{what}"
        );
        assert!(
            !files.values().any(|text| text.contains("preshared_key\"")),
            "{what}: no pre-shared key is written"
        );
        for tunnel in ["tunnel1", "tunnel2"] {
            assert_eq!(
                connection[format!("{tunnel}_ike_versions")],
                serde_json::json!(["ikev2"])
            );
            assert_eq!(
                connection[format!("{tunnel}_log_options")][0]["cloudwatch_log_options"][0]["log_group_arn"],
                "${aws_cloudwatch_log_group.vpn_tunnels.arn}"
            );
        }
        let static_routes = vpn.routing == VpnRouting::Static;
        assert_eq!(connection["static_routes_only"], static_routes, "{what}");
        let vpn_routes: Vec<&str> = resources(&network, "aws_vpn_connection_route")
            .values()
            .chain(resources(&network, "aws_ec2_transit_gateway_route").values())
            .map(|r| r["destination_cidr_block"].as_str().unwrap_or_default())
            .collect();
        let expected: &[&str] = if static_routes {
            &["10.100.0.0/16", "192.168.50.0/24"]
        } else {
            &[]
        };
        assert_eq!(vpn_routes, expected, "{what}");
        let outputs = json(&files, "outputs.tf.json");
        assert_eq!(
            outputs["output"]["vpn_preshared_key_arn"]["value"],
            "${aws_vpn_connection.on_premise.preshared_key_arn}"
        );
    }
}

#[test]
fn a_direct_connect_gateway_hears_of_the_private_subnets_only() {
    let files = rendered(with_link(Link::DirectConnect {
        gateway_id: DX_GATEWAY.into(),
        amazon_side_asn: 64513,
    }));
    let network = json(&files, "network.tf.json");
    let association = resources(&network, "aws_dx_gateway_association")["on_premise"];
    assert_eq!(association["dx_gateway_id"], DX_GATEWAY);
    assert_eq!(
        association["associated_gateway_id"],
        "${aws_vpn_gateway.on_premise.id}"
    );
    assert_eq!(
        association["allowed_prefixes"],
        serde_json::json!(["10.20.1.0/24", "10.20.2.0/24"])
    );
}

#[test]
fn the_resolver_forwards_the_on_premise_domain_only_from_the_private_subnets() {
    let files = rendered(production());
    let network = json(&files, "network.tf.json");
    let rules = resources(&network, "aws_route53_resolver_rule");
    assert_eq!(rules.len(), 1, "one rule: {rules:?}");
    let rule = rules["on_premise_dns"];
    assert_eq!(rule["domain_name"], "example.internal");
    assert_eq!(rule["rule_type"], "FORWARD");
    assert_eq!(
        rule["target_ip"],
        serde_json::json!([
            {"ip": "10.100.1.10", "port": 53, "protocol": "Do53"},
            {"ip": "10.100.1.11", "port": 53, "protocol": "Do53"},
        ])
    );
    let endpoint = resources(&network, "aws_route53_resolver_endpoint")["on_premise_dns"];
    assert_eq!(endpoint["direction"], "OUTBOUND");
    assert_eq!(
        endpoint["security_group_ids"],
        serde_json::json!(["${aws_security_group.resolver.id}"])
    );
    assert_eq!(
        endpoint["ip_address"],
        serde_json::json!([
            {"subnet_id": "${aws_subnet.private_a.id}"},
            {"subnet_id": "${aws_subnet.private_b.id}"},
        ])
    );
    let association =
        resources(&network, "aws_route53_resolver_rule_association")["on_premise_dns"];
    assert_eq!(association["vpc_id"], "${aws_vpc.network.id}");
    assert_eq!(
        association["resolver_rule_id"],
        "${aws_route53_resolver_rule.on_premise_dns.id}"
    );
}

#[test]
fn every_link_is_valid_terraform() {
    use infra_gen::terraform::{Providers, Terraform};
    let providers = Providers::find();
    // One working directory, initialised once: each link's files replace the previous ones. A validate takes
    // about 8 s, so only the links whose blocks no other covers: the static VPNs hold every block and argument
    // of their BGP twins and of the plain Transit Gateway link, and prod (environments/tests/checks.rs) is the
    // VPN on a virtual private gateway with BGP.
    let covering = ["static", "direct connect"];
    let dir = tempfile::tempdir().expect("tempdir");
    let terraform = Terraform::new(dir.path(), providers.clone());
    let links = links()
        .into_iter()
        .filter(|(what, _)| covering.iter().any(|c| what.contains(c)));
    for (i, (what, link)) in links.enumerate() {
        for entry in std::fs::read_dir(dir.path()).expect("readable tempdir") {
            let path = entry.expect("entry").path();
            if path.to_string_lossy().ends_with(".tf.json") {
                std::fs::remove_file(path).expect("removable");
            }
        }
        infra_gen::output::write(dir.path(), &rendered(with_link(link))).expect("write");
        if i == 0 {
            terraform
                .init(&["-backend=false", "-input=false"])
                .unwrap_or_else(|e| panic!("{}: {e}", providers.describe()));
        }
        terraform
            .run(&["validate"])
            .unwrap_or_else(|e| panic!("{what} with {}: {e}", providers.describe()));
    }
}
