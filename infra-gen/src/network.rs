//! The VPC the aggregator runs in: private subnets, VPC endpoints for every AWS service it calls, each with a
//! policy that lets through only this environment's resources, and a security group whose egress is only those
//! endpoints and the delivery endpoint.

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
fn letter(index: usize) -> char {
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

    fn endpoints_sg(&self) -> Ref {
        Ref::resource("aws_security_group", "endpoints")
    }

    fn private_routes(&self) -> Ref {
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

    fn render_security_groups(&self, f: &mut FileWriter<'_>) {
        let vpc_id = self.vpc().attr("id");
        let aggregator = self.aggregator_sg();
        let endpoints = self.endpoints_sg();
        f.resource(
            &aggregator,
            json!({
                "name": format!("{}-aggregator", self.name_prefix),
                "description": "The aggregator Lambda: egress to the VPC endpoints and the delivery endpoint only",
                "vpc_id": vpc_id,
            }),
        );
        f.resource(
            &endpoints,
            json!({
                "name": format!("{}-endpoints", self.name_prefix),
                "description": "Interface VPC endpoints: HTTPS from the aggregator only",
                "vpc_id": vpc_id,
            }),
        );
        let tcp = |port: u16| json!({"ip_protocol": "tcp", "from_port": port, "to_port": port});
        let rule = |base: serde_json::Value, extra: serde_json::Value| {
            let mut body = base;
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            body
        };
        f.resource(
            &Ref::resource(
                "aws_vpc_security_group_ingress_rule",
                "endpoints_from_aggregator",
            ),
            rule(
                tcp(443),
                json!({
                    "security_group_id": endpoints.attr("id"),
                    "referenced_security_group_id": aggregator.attr("id"),
                    "description": "HTTPS from the aggregator",
                }),
            ),
        );
        f.resource(
            &Ref::resource(
                "aws_vpc_security_group_egress_rule",
                "aggregator_to_endpoints",
            ),
            rule(
                tcp(443),
                json!({
                    "security_group_id": aggregator.attr("id"),
                    "referenced_security_group_id": endpoints.attr("id"),
                    "description": "HTTPS to the interface VPC endpoints",
                }),
            ),
        );
        if self.receiver {
            let receiver = self.receiver_sg();
            f.resource(
                &receiver,
                json!({
                    "name": format!("{}-receiver", self.name_prefix),
                    "description": "The dev mock receiver Lambda: egress to the interface VPC endpoints only",
                    "vpc_id": vpc_id,
                }),
            );
            f.resource(
                &Ref::resource(
                    "aws_vpc_security_group_ingress_rule",
                    "endpoints_from_receiver",
                ),
                rule(
                    tcp(443),
                    json!({
                        "security_group_id": endpoints.attr("id"),
                        "referenced_security_group_id": receiver.attr("id"),
                        "description": "HTTPS from the mock receiver",
                    }),
                ),
            );
            f.resource(
                &Ref::resource(
                    "aws_vpc_security_group_egress_rule",
                    "receiver_to_endpoints",
                ),
                rule(
                    tcp(443),
                    json!({
                        "security_group_id": receiver.attr("id"),
                        "referenced_security_group_id": endpoints.attr("id"),
                        "description": "HTTPS to the interface VPC endpoints",
                    }),
                ),
            );
        }
        for service in GATEWAY_SERVICES {
            f.resource(
                &Ref::resource(
                    "aws_vpc_security_group_egress_rule",
                    format!("aggregator_to_{service}"),
                ),
                rule(
                    tcp(443),
                    json!({
                        "security_group_id": aggregator.attr("id"),
                        "prefix_list_id": self.endpoint(service).attr("prefix_list_id"),
                        "description": format!("HTTPS to {service} through its gateway endpoint"),
                    }),
                ),
            );
        }
        match &self.egress {
            EndpointEgress::Cidrs { cidrs, port } => {
                for (i, cidr) in cidrs.iter().enumerate() {
                    f.resource(
                        &Ref::resource(
                            "aws_vpc_security_group_egress_rule",
                            format!("aggregator_to_endpoint_{}", letter(i)),
                        ),
                        rule(
                            tcp(*port),
                            json!({
                                "security_group_id": aggregator.attr("id"),
                                "cidr_ipv4": cidr,
                                "description": "The on-premise delivery endpoint",
                            }),
                        ),
                    );
                }
            }
            EndpointEgress::Internet => {
                f.resource(
                    &Ref::resource("aws_vpc_security_group_egress_rule", "aggregator_to_endpoint"),
                    rule(
                        tcp(443),
                        json!({
                            "security_group_id": aggregator.attr("id"),
                            "cidr_ipv4": "0.0.0.0/0",
                            "description": "HTTPS to the mock receiver's function URL, which has no fixed address",
                        }),
                    ),
                );
            }
            EndpointEgress::None => {}
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
