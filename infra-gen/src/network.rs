//! The VPC the functions run in: private subnets, VPC endpoints for every AWS service they call, each with a
//! policy that lets through only this environment's resources, and a security group per function whose egress
//! is only those endpoints (and, for the aggregator, the delivery endpoint).

use std::collections::BTreeMap;

use serde_json::json;

use crate::config::Subnet;
use crate::function::VpcPlacement;
use crate::iam::{Condition, Effect, PolicyDocument, Principal, Statement};
use crate::tf::{Block, Expr, FileWriter, Ref};

/// Where the aggregator may connect besides AWS services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEgress {
    /// The on-premise server's ranges, on its port.
    Cidrs { cidrs: Vec<String>, port: u16 },
    /// The internet on 443 through a NAT gateway (dev's mock receiver: a function URL has no fixed address).
    Internet,
    /// Nothing: the endpoint runs next to moto on this machine.
    None,
}

/// Which way a security group rule lets traffic through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

/// The other side of a security group rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Another security group of the VPC.
    Group(Ref),
    Cidr(String),
    /// A gateway endpoint's prefix list.
    PrefixList(Expr),
}

/// The transport a security group rule lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    /// DNS only (the resolver endpoint's queries).
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One rule of a security group: `group` lets `protocol` traffic to or from `peer` on `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRule {
    /// The Terraform name of the rule.
    pub name: String,
    pub direction: Direction,
    pub group: Ref,
    pub peer: Peer,
    pub protocol: Protocol,
    pub port: u16,
    pub description: String,
}

impl Block for SecurityGroupRule {
    fn render(&self, f: &mut FileWriter<'_>) {
        let ty = match self.direction {
            Direction::Ingress => "aws_vpc_security_group_ingress_rule",
            Direction::Egress => "aws_vpc_security_group_egress_rule",
        };
        let mut body = json!({
            "ip_protocol": self.protocol.as_str(),
            "from_port": self.port,
            "to_port": self.port,
            "security_group_id": self.group.attr("id"),
            "description": self.description,
        });
        let (key, value) = match &self.peer {
            Peer::Group(group) => ("referenced_security_group_id", group.attr("id")),
            Peer::Cidr(cidr) => ("cidr_ipv4", Expr::lit(cidr.clone())),
            Peer::PrefixList(list) => ("prefix_list_id", list.clone()),
        };
        body[key] = json!(value);
        f.resource(&Ref::resource(ty, self.name.clone()), body);
    }
}

#[derive(Debug, Clone)]
pub struct Network {
    pub name_prefix: String,
    pub region: String,
    pub vpc_cidr: String,
    pub private_subnets: Vec<Subnet>,
    pub public_subnet: Option<Subnet>,
    pub interface_endpoints: Vec<&'static str>,
    pub egress: EndpointEgress,
    /// Whether the dev mock receiver runs in the VPC too (it reads its secret through the endpoints).
    pub receiver: bool,
    /// The policy of each endpoint, by service name suffix (`s3`, `sqs`, ...): see [`endpoint_policies`].
    pub endpoint_policies: BTreeMap<&'static str, PolicyDocument>,
    /// The on-premise DNS servers the resolver endpoint forwards to ([`crate::link::OnPremiseDns`]); its
    /// security group lets DNS out to them and nothing else. Empty: no resolver endpoint.
    pub dns_servers: Vec<String>,
}

/// The IAM action prefix of an endpoint's service.
fn action_prefix(service: &str) -> String {
    match service {
        "monitoring" => "cloudwatch:".into(),
        other => format!("{other}:"),
    }
}

/// The policy of every endpoint the VPC has: exactly the statements the functions in the VPC are granted on
/// that endpoint's service (same actions, same resources: this environment's buckets, queues, tables, secret
/// and key), for principals of this account only. A service none of them is granted anything on lets nothing
/// through. `grants` are (label, the role's statements), the label making each statement id unique.
pub fn endpoint_policies(
    services: &[&'static str],
    grants: &[(&str, &[Statement])],
    account: &Expr,
) -> BTreeMap<&'static str, PolicyDocument> {
    services
        .iter()
        .map(|&service| {
            let prefix = action_prefix(service);
            let mut statements: Vec<Statement> = grants
                .iter()
                .flat_map(|(label, statements)| statements.iter().map(move |s| (label, s)))
                .filter(|(_, s)| {
                    s.effect == Effect::Allow && s.actions.iter().all(|a| a.starts_with(&prefix))
                })
                .map(|(label, s)| Statement {
                    sid: format!("{label}{}", s.sid),
                    principals: vec![Principal::Anyone],
                    conditions: vec![Condition::new(
                        "StringEquals",
                        "aws:PrincipalAccount",
                        vec![account.clone()],
                    )],
                    ..s.clone()
                })
                .collect();
            if statements.is_empty() {
                statements.push(
                    Statement::deny(
                        "NothingInThisVpcIsGrantedThisService",
                        &["*"],
                        vec![Expr::lit("*")],
                    )
                    .principal(Principal::Anyone),
                );
            }
            (
                service,
                PolicyDocument::new(format!("endpoint_{service}"), statements),
            )
        })
        .collect()
}

/// The VPC's flow log, to a KMS-encrypted log group.
#[derive(Debug, Clone)]
pub struct FlowLog {
    pub name: &'static str,
    pub vpc_id: Expr,
    pub log_group_arn: Expr,
    pub role_arn: Expr,
}

impl Block for FlowLog {
    fn render(&self, f: &mut FileWriter<'_>) {
        f.resource(
            &Ref::resource("aws_flow_log", self.name),
            json!({
                "vpc_id": self.vpc_id,
                "traffic_type": "ALL",
                "log_destination_type": "cloud-watch-logs",
                "log_destination": self.log_group_arn,
                "iam_role_arn": self.role_arn,
                "max_aggregation_interval": 600,
            }),
        );
    }
}

/// The services with a gateway endpoint (S3, DynamoDB): free, and routed without private DNS caveats.
const GATEWAY_SERVICES: [&str; 2] = ["s3", "dynamodb"];

/// `a`, `b`, ... for the n-th subnet: Terraform names must not depend on a list's order of evaluation.
pub fn letter(index: usize) -> char {
    (b'a' + (index % 26) as u8) as char
}

impl Network {
    pub fn vpc(&self) -> Ref {
        Ref::resource("aws_vpc", "network")
    }

    pub fn private_subnet(&self, index: usize) -> Ref {
        Ref::resource("aws_subnet", format!("private_{}", letter(index)))
    }

    pub fn subnet_ids(&self) -> Vec<Expr> {
        (0..self.private_subnets.len())
            .map(|i| self.private_subnet(i).attr("id"))
            .collect()
    }

    /// A function's place in the VPC: the private subnets, in `security_group`.
    pub fn placement(&self, security_group: Ref) -> VpcPlacement {
        VpcPlacement {
            subnet_ids: self.subnet_ids(),
            security_group_ids: vec![security_group.attr("id")],
        }
    }

    /// The aggregator's security group.
    pub fn aggregator_sg(&self) -> Ref {
        Ref::resource("aws_security_group", "aggregator")
    }

    /// The dev mock receiver's security group.
    pub fn receiver_sg(&self) -> Ref {
        Ref::resource("aws_security_group", "receiver")
    }

    /// The daily report's security group.
    pub fn reporter_sg(&self) -> Ref {
        Ref::resource("aws_security_group", "reporter")
    }

    fn endpoints_sg(&self) -> Ref {
        Ref::resource("aws_security_group", "endpoints")
    }

    /// The on-premise DNS forwarding's resolver endpoint's security group.
    pub fn resolver_sg(&self) -> Ref {
        Ref::resource("aws_security_group", "resolver")
    }

    /// The private subnets' route table.
    pub fn private_routes(&self) -> Ref {
        Ref::resource("aws_route_table", "private")
    }

    /// The endpoint of a service.
    fn endpoint(&self, service: &str) -> Ref {
        Ref::resource("aws_vpc_endpoint", service)
    }

    /// Every service the VPC has an endpoint for.
    pub fn endpoint_services(&self) -> Vec<&'static str> {
        GATEWAY_SERVICES
            .iter()
            .chain(&self.interface_endpoints)
            .copied()
            .collect()
    }

    /// The security groups: the functions' (egress only) and the interface endpoints' (ingress only), as
    /// (reference, name suffix, description).
    fn security_groups(&self) -> Vec<(Ref, &'static str, &'static str)> {
        let mut groups = vec![
            (
                self.aggregator_sg(),
                "aggregator",
                "The aggregator Lambda: egress to the VPC endpoints and the delivery endpoint only",
            ),
            (
                self.endpoints_sg(),
                "endpoints",
                "Interface VPC endpoints: HTTPS from the aggregator only",
            ),
        ];
        if self.receiver {
            groups.push((
                self.receiver_sg(),
                "receiver",
                "The dev mock receiver Lambda: egress to the interface VPC endpoints only",
            ));
        }
        if !self.dns_servers.is_empty() {
            groups.push((
                self.resolver_sg(),
                "resolver",
                "Route 53 Resolver outbound endpoint: DNS to the on-premise DNS servers only",
            ));
        }
        groups.push((
            self.reporter_sg(),
            "reporter",
            "The daily report Lambda: egress to the VPC endpoints only",
        ));
        groups
    }

    /// Every rule of the security groups: each function in the VPC reaches the interface endpoints (and they
    /// accept it), the aggregator and the reporter reach the gateway endpoints' prefix lists, the aggregator the
    /// delivery endpoint, and nothing else is allowed.
    pub fn security_group_rules(&self) -> Vec<SecurityGroupRule> {
        let endpoints = self.endpoints_sg();
        let aggregator = self.aggregator_sg();
        let mut functions = vec![("aggregator", aggregator.clone(), "the aggregator")];
        if self.receiver {
            functions.push(("receiver", self.receiver_sg(), "the mock receiver"));
        }
        functions.push(("reporter", self.reporter_sg(), "the reporter"));
        let mut rules = Vec::new();
        for (name, group, who) in functions {
            rules.push(SecurityGroupRule {
                name: format!("endpoints_from_{name}"),
                direction: Direction::Ingress,
                group: endpoints.clone(),
                peer: Peer::Group(group.clone()),
                protocol: Protocol::Tcp,
                port: 443,
                description: format!("HTTPS from {who}"),
            });
            rules.push(SecurityGroupRule {
                name: format!("{name}_to_endpoints"),
                direction: Direction::Egress,
                group,
                peer: Peer::Group(endpoints.clone()),
                protocol: Protocol::Tcp,
                port: 443,
                description: "HTTPS to the interface VPC endpoints".into(),
            });
        }
        for (name, group) in [
            ("aggregator", aggregator.clone()),
            ("reporter", self.reporter_sg()),
        ] {
            for service in GATEWAY_SERVICES {
                rules.push(SecurityGroupRule {
                    name: format!("{name}_to_{service}"),
                    direction: Direction::Egress,
                    group: group.clone(),
                    peer: Peer::PrefixList(self.endpoint(service).attr("prefix_list_id")),
                    protocol: Protocol::Tcp,
                    port: 443,
                    description: format!("HTTPS to {service} through its gateway endpoint"),
                });
            }
        }
        let to_endpoint =
            |name: String, cidr: &str, port: u16, description: &str| SecurityGroupRule {
                name,
                direction: Direction::Egress,
                group: aggregator.clone(),
                peer: Peer::Cidr(cidr.to_owned()),
                protocol: Protocol::Tcp,
                port,
                description: description.to_owned(),
            };
        match &self.egress {
            EndpointEgress::Cidrs { cidrs, port } => {
                rules.extend(cidrs.iter().enumerate().map(|(i, cidr)| {
                    to_endpoint(
                        format!("aggregator_to_endpoint_{}", letter(i)),
                        cidr,
                        *port,
                        "The on-premise delivery endpoint",
                    )
                }));
            }
            EndpointEgress::Internet => rules.push(to_endpoint(
                "aggregator_to_endpoint".into(),
                "0.0.0.0/0",
                443,
                "HTTPS to the mock receiver's function URL, which has no fixed address",
            )),
            EndpointEgress::None => {}
        }
        // Resolver endpoints speak DNS over UDP, and over TCP for large answers.
        for (i, server) in self.dns_servers.iter().enumerate() {
            for protocol in [Protocol::Udp, Protocol::Tcp] {
                rules.push(SecurityGroupRule {
                    name: format!("resolver_to_dns_{}_{}", letter(i), protocol.as_str()),
                    direction: Direction::Egress,
                    group: self.resolver_sg(),
                    peer: Peer::Cidr(format!("{server}/32")),
                    protocol,
                    port: 53,
                    description: "DNS to an on-premise DNS server".into(),
                });
            }
        }
        rules
    }

    fn render_security_groups(&self, f: &mut FileWriter<'_>) {
        for (group, suffix, description) in self.security_groups() {
            f.resource(
                &group,
                json!({
                    "name": format!("{}-{suffix}", self.name_prefix),
                    "description": description,
                    "vpc_id": self.vpc().attr("id"),
                }),
            );
        }
        for rule in self.security_group_rules() {
            rule.render(f);
        }
    }

    fn render_nat(&self, f: &mut FileWriter<'_>, public: &Subnet) {
        let vpc_id = self.vpc().attr("id");
        let gateway = Ref::resource("aws_internet_gateway", "network");
        let subnet = Ref::resource("aws_subnet", "public");
        let routes = Ref::resource("aws_route_table", "public");
        let eip = Ref::resource("aws_eip", "nat");
        let nat = Ref::resource("aws_nat_gateway", "nat");
        f.resource(&gateway, json!({"vpc_id": vpc_id}));
        f.resource(
            &subnet,
            json!({
                "vpc_id": vpc_id,
                "cidr_block": public.cidr,
                "availability_zone": public.availability_zone,
                "tags": {"Name": format!("{}-public", self.name_prefix)},
            }),
        );
        f.resource(&routes, json!({"vpc_id": vpc_id}));
        f.resource(
            &Ref::resource("aws_route", "public_internet"),
            json!({"route_table_id": routes.attr("id"), "destination_cidr_block": "0.0.0.0/0", "gateway_id": gateway.attr("id")}),
        );
        f.resource(
            &Ref::resource("aws_route_table_association", "public"),
            json!({"subnet_id": subnet.attr("id"), "route_table_id": routes.attr("id")}),
        );
        f.resource(
            &eip,
            json!({"domain": "vpc", "depends_on": [gateway.address()]}),
        );
        f.resource(
            &nat,
            json!({"allocation_id": eip.attr("id"), "subnet_id": subnet.attr("id")}),
        );
        f.resource(
            &Ref::resource("aws_route", "private_internet"),
            json!({"route_table_id": self.private_routes().attr("id"), "destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.attr("id")}),
        );
    }
}

impl Block for Network {
    fn render(&self, f: &mut FileWriter<'_>) {
        let vpc_id = self.vpc().attr("id");
        f.resource(
            &self.vpc(),
            json!({
                "cidr_block": self.vpc_cidr,
                // Interface endpoints answer on the services' public names only with DNS support and hostnames.
                "enable_dns_support": true,
                "enable_dns_hostnames": true,
                "tags": {"Name": self.name_prefix},
            }),
        );
        // Taking over the default security group removes its allow-all rules.
        f.resource(
            &Ref::resource("aws_default_security_group", "network"),
            json!({"vpc_id": vpc_id}),
        );
        f.resource(
            &self.private_routes(),
            json!({"vpc_id": vpc_id, "tags": {"Name": format!("{}-private", self.name_prefix)}}),
        );
        for (i, subnet) in self.private_subnets.iter().enumerate() {
            let r = self.private_subnet(i);
            f.resource(
                &r,
                json!({
                    "vpc_id": vpc_id,
                    "cidr_block": subnet.cidr,
                    "availability_zone": subnet.availability_zone,
                    "tags": {"Name": format!("{}-private-{}", self.name_prefix, letter(i))},
                }),
            );
            f.resource(
                &Ref::resource("aws_route_table_association", r.name().to_owned()),
                json!({"subnet_id": r.attr("id"), "route_table_id": self.private_routes().attr("id")}),
            );
        }
        for service in GATEWAY_SERVICES.iter().chain(&self.interface_endpoints) {
            let mut body = json!({
                "vpc_id": vpc_id,
                "service_name": format!("com.amazonaws.{}.{service}", self.region),
                "tags": {"Name": format!("{}-{service}", self.name_prefix)},
            });
            if GATEWAY_SERVICES.contains(service) {
                body["vpc_endpoint_type"] = json!("Gateway");
                body["route_table_ids"] = json!([self.private_routes().attr("id")]);
            } else {
                body["vpc_endpoint_type"] = json!("Interface");
                body["private_dns_enabled"] = json!(true);
                body["subnet_ids"] = json!(self.subnet_ids());
                body["security_group_ids"] = json!([self.endpoints_sg().attr("id")]);
            }
            if let Some(policy) = self.endpoint_policies.get(service) {
                f.data(&policy.data_ref(), policy.data_body());
                body["policy"] = json!(policy.json());
            }
            f.resource(&self.endpoint(service), body);
        }
        self.render_security_groups(f);
        if let Some(public) = &self.public_subnet {
            self.render_nat(f, public);
        }
    }
}
