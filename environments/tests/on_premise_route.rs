//! The committed `generated/prod` reviewed as the network team would: the private subnets route the declared
//! on-premise ranges, and only those, over the link; the resolver forwards only the on-premise domain to the
//! on-premise DNS servers; the aggregator's only on-premise egress is the endpoint's ranges on its port, and
//! the resolver's only egress DNS to those servers; the endpoint's URL lies inside all of that; and the
//! runbook names what the network team must provide. dev and local have no link.

mod common;

use std::collections::BTreeSet;

use infra_gen::config::{Endpoint, Link, OnPremise, VpnGateway};
use serde_json::Value;

fn network(env: &str) -> Value {
    let path = common::generated(env).join("network.tf.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

fn blocks<'a>(network: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    network["resource"][ty]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

fn prod() -> (OnPremise, String, Vec<String>, u16) {
    let env = environments::prod::environment();
    let Endpoint::OnPremise {
        url, cidrs, port, ..
    } = env.sink.endpoint().clone()
    else {
        panic!("prod delivers on-premise");
    };
    let on_premise = env.network.on_premise.expect("prod declares its link");
    (on_premise, url, cidrs, port)
}

#[test]
fn prod_routes_the_on_premise_ranges_only_over_its_link() {
    let (on_premise, _, _, _) = prod();
    let network = network("prod");
    let routes = blocks(&network, "aws_route");
    let destinations: BTreeSet<&str> = routes
        .iter()
        .map(|(_, r)| text(r, "destination_cidr_block"))
        .collect();
    let declared: BTreeSet<&str> = on_premise.cidrs.iter().map(String::as_str).collect();
    assert_eq!(
        destinations, declared,
        "the private subnets route exactly the on-premise ranges"
    );
    assert_eq!(routes.len(), on_premise.cidrs.len(), "{routes:#?}");
    for (name, route) in &routes {
        assert_eq!(
            text(route, "route_table_id"),
            "${aws_route_table.private.id}",
            "{name}"
        );
        match &on_premise.link {
            Link::Vpn(vpn) if matches!(vpn.gateway, VpnGateway::VirtualPrivateGateway { .. }) => {
                assert_eq!(
                    text(route, "gateway_id"),
                    "${aws_vpn_gateway.on_premise.id}",
                    "{name}"
                );
            }
            Link::DirectConnect { .. } => assert_eq!(
                text(route, "gateway_id"),
                "${aws_vpn_gateway.on_premise.id}",
                "{name}"
            ),
            Link::TransitGateway { transit_gateway_id }
            | Link::Vpn(infra_gen::config::Vpn {
                gateway: VpnGateway::TransitGateway { transit_gateway_id },
                ..
            }) => assert_eq!(
                text(route, "transit_gateway_id"),
                transit_gateway_id,
                "{name}"
            ),
            Link::Vpn(_) => unreachable!("every gateway is matched above"),
        }
    }
    assert!(
        blocks(&network, "aws_vpn_gateway_route_propagation").is_empty(),
        "nothing the router advertises is installed beyond the declared ranges"
    );
    // The link itself: for prod's VPN, a gateway attached to the VPC and a connection to the router.
    if let Link::Vpn(vpn) = &on_premise.link {
        let customer = &network["resource"]["aws_customer_gateway"]["on_premise"];
        assert_eq!(
            text(customer, "ip_address"),
            vpn.customer_gateway.ip_address
        );
        assert_eq!(
            text(customer, "bgp_asn"),
            vpn.customer_gateway.bgp_asn.to_string()
        );
        let connection = &network["resource"]["aws_vpn_connection"]["on_premise"];
        assert_eq!(
            text(connection, "customer_gateway_id"),
            "${aws_customer_gateway.on_premise.id}"
        );
        assert_eq!(text(connection, "preshared_key_storage"), "SecretsManager");
    }
}

#[test]
fn prod_forwards_only_its_domain_and_lets_out_only_the_endpoint_and_dns() {
    let (on_premise, url, endpoint_cidrs, port) = prod();
    let dns = on_premise.dns.as_ref().expect("prod forwards its domain");
    let network = network("prod");
    let rules = blocks(&network, "aws_route53_resolver_rule");
    assert_eq!(rules.len(), 1, "{rules:#?}");
    let rule = rules[0].1;
    assert_eq!(text(rule, "domain_name"), dns.domain);
    assert_eq!(text(rule, "rule_type"), "FORWARD");
    let targets: Vec<(&str, u64)> = rule["target_ip"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| (text(t, "ip"), t["port"].as_u64().unwrap_or_default()))
        .collect();
    let servers: Vec<(&str, u64)> = dns.servers.iter().map(|s| (s.as_str(), 53)).collect();
    assert_eq!(targets, servers);
    assert_eq!(
        text(
            &network["resource"]["aws_route53_resolver_rule_association"]["on_premise_dns"],
            "vpc_id"
        ),
        "${aws_vpc.network.id}"
    );

    // Every rule with an address as its peer, by group: the aggregator's is the endpoint on its port, the
    // resolver's DNS to each server; no other group lets anything out to an address.
    let mut by_group: Vec<(String, String)> =
        blocks(&network, "aws_vpc_security_group_egress_rule")
            .into_iter()
            .chain(blocks(&network, "aws_vpc_security_group_ingress_rule"))
            .filter(|(_, r)| r.get("cidr_ipv4").is_some())
            .map(|(_, r)| {
                (
                    text(r, "security_group_id").to_owned(),
                    format!(
                        "{} {}/{}",
                        text(r, "cidr_ipv4"),
                        r["to_port"],
                        text(r, "ip_protocol")
                    ),
                )
            })
            .collect();
    by_group.sort();
    let mut expected: Vec<(String, String)> = endpoint_cidrs
        .iter()
        .map(|c| {
            (
                "${aws_security_group.aggregator.id}".to_owned(),
                format!("{c} {port}/tcp"),
            )
        })
        .chain(dns.servers.iter().flat_map(|s| {
            ["tcp", "udp"].map(|p| {
                (
                    "${aws_security_group.resolver.id}".to_owned(),
                    format!("{s}/32 53/{p}"),
                )
            })
        }))
        .collect();
    expected.sort();
    assert_eq!(by_group, expected);
    // No ingress into the resolver: an outbound endpoint only sends.
    assert!(
        blocks(&network, "aws_vpc_security_group_ingress_rule")
            .iter()
            .all(|(_, r)| text(r, "security_group_id") != "${aws_security_group.resolver.id}")
    );

    // The URL the aggregator is given names a host under the forwarded domain, on the allowed port.
    let function = std::fs::read_to_string(common::generated("prod").join("function.tf.json"))
        .expect("function.tf.json");
    assert!(
        function.contains(&format!("\"NIFI_URL\": \"{url}\"")),
        "{url}"
    );
    let (host, url_port) = infra_gen::on_premise::host_and_port(&url).expect("an https URL");
    assert!(host.ends_with(&format!(".{}", dns.domain)), "{host}");
    assert_eq!(url_port, port);
}

#[test]
fn the_prod_runbook_says_what_the_network_team_provides_and_how_to_check_the_path() {
    let (on_premise, _, endpoint_cidrs, port) = prod();
    let runbook =
        std::fs::read_to_string(common::generated("prod").join("RUNBOOK.md")).expect("RUNBOOK.md");
    let Link::Vpn(vpn) = &on_premise.link else {
        panic!("prod's link is a VPN")
    };
    let dns = on_premise.dns.as_ref().expect("prod forwards its domain");
    for needed in [
        "### What the network team provides".to_owned(),
        format!(
            "`{}`, AS {}",
            vpn.customer_gateway.ip_address, vpn.customer_gateway.bgp_asn
        ),
        format!("`{}`, TCP {port}", endpoint_cidrs[0]),
        format!("`{}`: `{}`", dns.domain, dns.servers[0]),
        "on UDP and TCP 53".to_owned(),
        "cargo xtask doctor prod".to_owned(),
        "**Placeholders.**".to_owned(),
        format!(
            "the customer gateway's address: {}",
            vpn.customer_gateway.ip_address
        ),
        "vpn_preshared_key_arn".to_owned(),
    ] {
        assert!(
            runbook.contains(&needed),
            "RUNBOOK.md should say {needed:?}"
        );
    }
    for cidr in &on_premise.cidrs {
        assert!(runbook.contains(&format!("`{cidr}`")), "{cidr}");
    }
}

#[test]
fn dev_and_local_have_no_link_and_no_forwarding() {
    for env in ["dev", "local"] {
        let network = network(env);
        for ty in [
            "aws_vpn_gateway",
            "aws_customer_gateway",
            "aws_vpn_connection",
            "aws_ec2_transit_gateway_vpc_attachment",
            "aws_dx_gateway_association",
            "aws_route53_resolver_endpoint",
            "aws_route53_resolver_rule",
        ] {
            assert!(blocks(&network, ty).is_empty(), "{env} has {ty}");
        }
        let runbook =
            std::fs::read_to_string(common::generated(env).join("RUNBOOK.md")).expect("RUNBOOK.md");
        assert!(!runbook.contains("## The route to on-premise"), "{env}");
    }
}
