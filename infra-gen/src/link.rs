//! The route to the on-premise network: the gateways and attachments of the environment's link (an existing
//! Transit Gateway, a site-to-site VPN, an existing Direct Connect gateway) with one route per on-premise range
//! from the private subnets over it and no other; and the forwarding of the on-premise domain, and only it, to
//! the on-premise DNS servers through a Route 53 Resolver outbound endpoint in the private subnets.

use serde_json::{Value, json};

use crate::config::{Link, Vpn, VpnGateway, VpnRouting};
use crate::function::LogGroup;
use crate::network::letter;
use crate::tf::{Block, Expr, FileWriter, Ref};

/// The Terraform name of every block of the link.
const NAME: &str = "on_premise";

/// The IPsec proposals both tunnels accept: IKEv2, AES-256, SHA-2 and elliptic-curve Diffie-Hellman groups,
/// the strongest set AWS offers that common on-premise routers speak; the router must propose from it.
pub const IKE_VERSIONS: [&str; 1] = ["ikev2"];
pub const ENCRYPTION: [&str; 2] = ["AES256", "AES256-GCM-16"];
pub const INTEGRITY: [&str; 3] = ["SHA2-256", "SHA2-384", "SHA2-512"];
pub const DH_GROUPS: [u32; 3] = [19, 20, 21];

/// Where a route to an on-premise range points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Transit Gateway the private subnets are attached to.
    TransitGateway(String),
    /// The VPC's virtual private gateway.
    VirtualPrivateGateway(Ref),
}

/// One route of the private subnets' route table to an on-premise range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub r: Ref,
    pub destination: String,
    pub target: Target,
}

/// The link and its routes.
#[derive(Debug, Clone)]
pub struct OnPremiseLink {
    pub name_prefix: String,
    pub link: Link,
    /// The on-premise ranges routed over the link.
    pub cidrs: Vec<String>,
    pub vpc_id: Expr,
    pub route_table: Ref,
    pub subnet_ids: Vec<Expr>,
    /// The private subnets' ranges: all a Direct Connect gateway may advertise on-premise.
    pub subnet_cidrs: Vec<String>,
    /// The VPN tunnels' logs (a VPN only).
    pub tunnel_logs: Option<LogGroup>,
}

impl OnPremiseLink {
    pub fn vpn_gateway() -> Ref {
        Ref::resource("aws_vpn_gateway", NAME)
    }

    pub fn attachment() -> Ref {
        Ref::resource("aws_ec2_transit_gateway_vpc_attachment", NAME)
    }

    pub fn vpn_connection() -> Ref {
        Ref::resource("aws_vpn_connection", NAME)
    }

    fn customer_gateway() -> Ref {
        Ref::resource("aws_customer_gateway", NAME)
    }

    /// The VPN connection, if the link is one.
    pub fn vpn(&self) -> Option<&Vpn> {
        match &self.link {
            Link::Vpn(vpn) => Some(vpn),
            _ => None,
        }
    }

    /// Where the private subnets' routes to on-premise point.
    pub fn target(&self) -> Target {
        match &self.link {
            Link::TransitGateway { transit_gateway_id }
            | Link::Vpn(Vpn {
                gateway: VpnGateway::TransitGateway { transit_gateway_id },
                ..
            }) => Target::TransitGateway(transit_gateway_id.clone()),
            Link::Vpn(_) | Link::DirectConnect { .. } => {
                Target::VirtualPrivateGateway(Self::vpn_gateway())
            }
        }
    }

    /// The routes of the private subnets' route table: one per on-premise range, over the link.
    pub fn routes(&self) -> Vec<Route> {
        self.cidrs
            .iter()
            .enumerate()
            .map(|(i, cidr)| Route {
                r: Ref::resource("aws_route", format!("{NAME}_{}", letter(i))),
                destination: cidr.clone(),
                target: self.target(),
            })
            .collect()
    }

    fn tags(&self) -> Value {
        json!({"Name": format!("{}-on-premise", self.name_prefix)})
    }

    fn render_vpn_gateway(&self, f: &mut FileWriter<'_>, amazon_side_asn: u32) {
        f.resource(
            &Self::vpn_gateway(),
            json!({
                "vpc_id": self.vpc_id,
                "amazon_side_asn": amazon_side_asn.to_string(),
                "tags": self.tags(),
            }),
        );
    }

    fn render_attachment(&self, f: &mut FileWriter<'_>, transit_gateway_id: &str) {
        f.resource(
            &Self::attachment(),
            json!({
                "transit_gateway_id": transit_gateway_id,
                "vpc_id": self.vpc_id,
                "subnet_ids": self.subnet_ids,
                "dns_support": "enable",
                "tags": self.tags(),
            }),
        );
    }

    fn render_vpn(&self, f: &mut FileWriter<'_>, vpn: &Vpn) {
        let customer = &vpn.customer_gateway;
        // AWS takes ASNs above 2,147,483,647 in a separate argument.
        let asn_argument = if customer.bgp_asn > 2_147_483_647 {
            "bgp_asn_extended"
        } else {
            "bgp_asn"
        };
        let mut customer_body = json!({
            "ip_address": customer.ip_address,
            "type": "ipsec.1",
            "tags": self.tags(),
        });
        customer_body[asn_argument] = json!(customer.bgp_asn.to_string());
        f.resource(&Self::customer_gateway(), customer_body);
        let static_routes = vpn.routing == VpnRouting::Static;
        let mut body = json!({
            "customer_gateway_id": Self::customer_gateway().attr("id"),
            "type": "ipsec.1",
            "static_routes_only": static_routes,
            // The pre-shared keys stay in a secret AWS keeps (output vpn_preshared_key_arn), so that they
            // reach neither the plan nor the state (the provider reads them back as REDACTED).
            "preshared_key_storage": "SecretsManager",
            "tags": self.tags(),
        });
        for tunnel in ["tunnel1", "tunnel2"] {
            body[format!("{tunnel}_ike_versions")] = json!(IKE_VERSIONS);
            for phase in ["phase1", "phase2"] {
                body[format!("{tunnel}_{phase}_encryption_algorithms")] = json!(ENCRYPTION);
                body[format!("{tunnel}_{phase}_integrity_algorithms")] = json!(INTEGRITY);
                body[format!("{tunnel}_{phase}_dh_group_numbers")] = json!(DH_GROUPS);
            }
            if let Some(logs) = &self.tunnel_logs {
                body[format!("{tunnel}_log_options")] = json!([{"cloudwatch_log_options": [{
                    "log_enabled": true,
                    "log_group_arn": logs.arn(),
                    "log_output_format": "json",
                }]}]);
            }
        }
        match &vpn.gateway {
            VpnGateway::VirtualPrivateGateway { amazon_side_asn } => {
                self.render_vpn_gateway(f, *amazon_side_asn);
                body["vpn_gateway_id"] = json!(Self::vpn_gateway().attr("id"));
            }
            VpnGateway::TransitGateway { transit_gateway_id } => {
                self.render_attachment(f, transit_gateway_id);
                body["transit_gateway_id"] = json!(transit_gateway_id);
            }
        }
        f.resource(&Self::vpn_connection(), body);
        if !static_routes {
            return;
        }
        // Static routing: the gateway learns the on-premise ranges from these instead of from BGP.
        let transit = Ref::data("aws_ec2_transit_gateway", NAME);
        if let VpnGateway::TransitGateway { transit_gateway_id } = &vpn.gateway {
            f.data(&transit, json!({"id": transit_gateway_id}));
        }
        for (i, cidr) in self.cidrs.iter().enumerate() {
            let name = format!("{NAME}_{}", letter(i));
            match &vpn.gateway {
                VpnGateway::VirtualPrivateGateway { .. } => f.resource(
                    &Ref::resource("aws_vpn_connection_route", name),
                    json!({
                        "vpn_connection_id": Self::vpn_connection().attr("id"),
                        "destination_cidr_block": cidr,
                    }),
                ),
                // The VPC's attachment looks up the Transit Gateway's default route table.
                VpnGateway::TransitGateway { .. } => f.resource(
                    &Ref::resource("aws_ec2_transit_gateway_route", name),
                    json!({
                        "destination_cidr_block": cidr,
                        "transit_gateway_attachment_id": Self::vpn_connection().attr("transit_gateway_attachment_id"),
                        "transit_gateway_route_table_id": transit.attr("association_default_route_table_id"),
                    }),
                ),
            };
        }
    }
}

impl Block for OnPremiseLink {
    fn render(&self, f: &mut FileWriter<'_>) {
        if let Some(logs) = &self.tunnel_logs {
            logs.render(f);
        }
        match &self.link {
            Link::TransitGateway { transit_gateway_id } => {
                self.render_attachment(f, transit_gateway_id);
            }
            Link::Vpn(vpn) => self.render_vpn(f, vpn),
            Link::DirectConnect {
                gateway_id,
                amazon_side_asn,
            } => {
                self.render_vpn_gateway(f, *amazon_side_asn);
                f.resource(
                    &Ref::resource("aws_dx_gateway_association", NAME),
                    json!({
                        "dx_gateway_id": gateway_id,
                        "associated_gateway_id": Self::vpn_gateway().attr("id"),
                        "allowed_prefixes": self.subnet_cidrs,
                    }),
                );
            }
        }
        for route in self.routes() {
            let mut body = json!({
                "route_table_id": self.route_table.attr("id"),
                "destination_cidr_block": route.destination,
            });
            match route.target {
                Target::TransitGateway(id) => {
                    body["transit_gateway_id"] = json!(id);
                    // A route to a Transit Gateway is refused until the VPC is attached to it.
                    body["depends_on"] = json!([Self::attachment().address()]);
                }
                Target::VirtualPrivateGateway(gateway) => {
                    body["gateway_id"] = json!(gateway.attr("id"));
                }
            }
            f.resource(&route.r, body);
        }
    }
}

/// The forwarding of the on-premise domain to the on-premise DNS servers.
#[derive(Debug, Clone)]
pub struct OnPremiseDns {
    pub name_prefix: String,
    pub domain: String,
    pub servers: Vec<String>,
    pub vpc_id: Expr,
    /// The private subnets: the endpoint has an address in each (Resolver needs at least two).
    pub subnet_ids: Vec<Expr>,
    pub security_group: Ref,
}

impl OnPremiseDns {
    pub fn endpoint() -> Ref {
        Ref::resource("aws_route53_resolver_endpoint", "on_premise_dns")
    }

    pub fn rule() -> Ref {
        Ref::resource("aws_route53_resolver_rule", "on_premise_dns")
    }
}

impl Block for OnPremiseDns {
    fn render(&self, f: &mut FileWriter<'_>) {
        let addresses: Vec<Value> = self
            .subnet_ids
            .iter()
            .map(|id| json!({"subnet_id": id}))
            .collect();
        f.resource(
            &Self::endpoint(),
            json!({
                "name": format!("{}-on-premise-dns", self.name_prefix),
                "direction": "OUTBOUND",
                "resolver_endpoint_type": "IPV4",
                "protocols": ["Do53"],
                "security_group_ids": [self.security_group.attr("id")],
                "ip_address": addresses,
            }),
        );
        let targets: Vec<Value> = self
            .servers
            .iter()
            .map(|ip| json!({"ip": ip, "port": 53, "protocol": "Do53"}))
            .collect();
        let rule_name = format!("{}-on-premise-domain", self.name_prefix);
        f.resource(
            &Self::rule(),
            json!({
                "name": rule_name,
                "domain_name": self.domain,
                "rule_type": "FORWARD",
                "resolver_endpoint_id": Self::endpoint().attr("id"),
                "target_ip": targets,
            }),
        );
        f.resource(
            &Ref::resource("aws_route53_resolver_rule_association", "on_premise_dns"),
            json!({
                "name": rule_name,
                "resolver_rule_id": Self::rule().attr("id"),
                "vpc_id": self.vpc_id,
            }),
        );
    }
}
