//! The VPC the functions run in, with its flow log and, for an on-premise endpoint, the link to the
//! on-premise network and the forwarding of its domain; once the functions' roles exist, its endpoints are
//! told what they let through.

use std::collections::BTreeMap;

use super::Context;
use crate::config::{Endpoint, Link};
use crate::function::LogGroup;
use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::identity::Role;
use crate::link::{OnPremiseDns, OnPremiseLink};
use crate::network::{EndpointEgress, FlowLog, Network, endpoint_policies};

pub struct Vpc {
    pub network: Network,
    pub flow_logs: LogGroup,
    pub flow_logs_role: Role,
    pub network_flow_log: FlowLog,
    pub on_premise: Option<OnPremiseLink>,
    pub on_premise_dns: Option<OnPremiseDns>,
}

impl Vpc {
    pub fn new(cx: &Context) -> Vpc {
        let env = cx.env;
        let (public_subnet, egress) = match env.sink.endpoint() {
            Endpoint::OnPremise { cidrs, port, .. } => (
                None,
                EndpointEgress::Cidrs {
                    cidrs: cidrs.clone(),
                    port: *port,
                },
            ),
            Endpoint::MockReceiver => (env.network.public_subnet.clone(), EndpointEgress::Internet),
            Endpoint::LocalProcess { .. } => (None, EndpointEgress::None),
        };
        let dns = env.network.on_premise.as_ref().and_then(|o| o.dns.as_ref());
        let network = Network {
            name_prefix: env.name_prefix.clone(),
            region: env.region.clone(),
            vpc_cidr: env.network.vpc_cidr.clone(),
            private_subnets: env.network.private_subnets.clone(),
            public_subnet,
            interface_endpoints: env.network.interface_endpoints.clone(),
            egress,
            receiver: matches!(env.sink.endpoint(), Endpoint::MockReceiver),
            // Filled by `admit`, once the roles of the functions in the VPC exist.
            endpoint_policies: BTreeMap::new(),
            dns_servers: dns.map(|d| d.servers.clone()).unwrap_or_default(),
        };
        let on_premise = env
            .network
            .on_premise
            .as_ref()
            .map(|on_premise| OnPremiseLink {
                name_prefix: env.name_prefix.clone(),
                link: on_premise.link.clone(),
                cidrs: on_premise.cidrs.clone(),
                vpc_id: network.vpc().attr("id"),
                route_table: network.private_routes(),
                subnet_ids: network.subnet_ids(),
                subnet_cidrs: env
                    .network
                    .private_subnets
                    .iter()
                    .map(|s| s.cidr.clone())
                    .collect(),
                tunnel_logs: matches!(on_premise.link, Link::Vpn(_)).then(|| {
                    cx.log_group("vpn_tunnels", format!("/vpn/{}/tunnels", env.name_prefix))
                }),
            });
        let on_premise_dns = dns.map(|dns| OnPremiseDns {
            name_prefix: env.name_prefix.clone(),
            domain: dns.domain.clone(),
            servers: dns.servers.clone(),
            vpc_id: network.vpc().attr("id"),
            subnet_ids: network.subnet_ids(),
            security_group: network.resolver_sg(),
        });
        let flow_logs = cx.log_group("flow_logs", format!("/vpc/{}/flow-logs", env.name_prefix));
        let flow_logs_role = flow_logs_role(cx, &flow_logs);
        let network_flow_log = FlowLog {
            name: "network",
            vpc_id: network.vpc().attr("id"),
            log_group_arn: flow_logs.arn(),
            role_arn: flow_logs_role.arn(),
        };
        Vpc {
            network,
            flow_logs,
            flow_logs_role,
            network_flow_log,
            on_premise,
            on_premise_dns,
        }
    }

    /// Lets each VPC endpoint through exactly what the functions in the VPC are granted on its service;
    /// `roles` are (label, role), the label making each statement id unique.
    pub fn admit(&mut self, cx: &Context, roles: &[(&str, &Role)]) {
        let grants: Vec<(&str, &[Statement])> = roles
            .iter()
            .map(|(label, role)| (*label, role.policy.statements.as_slice()))
            .collect();
        self.network.endpoint_policies =
            endpoint_policies(&self.network.endpoint_services(), &grants, &cx.account);
    }
}

/// VPC flow logs may write into their one log group, for this account only.
fn flow_logs_role(cx: &Context, flow_logs: &LogGroup) -> Role {
    Role {
        name: "flow_logs_role",
        role_name: cx.named("flow-logs"),
        description: "VPC flow logs: write into their one log group",
        trust: PolicyDocument::new(
            "flow_logs_role_trust",
            vec![
                Statement::allow("FlowLogsAssumeRole", &["sts:AssumeRole"], Vec::new())
                    .principal(Principal::Service("vpc-flow-logs.amazonaws.com".into()))
                    .condition(Condition::new(
                        "StringEquals",
                        "aws:SourceAccount",
                        vec![cx.account.clone()],
                    )),
            ],
        ),
        policy: PolicyDocument::new(
            "flow_logs_role",
            vec![Statement::allow(
                "WriteFlowLogs",
                &[
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                vec![flow_logs.arn(), flow_logs.arn().suffix(":*")],
            )],
        ),
    }
}
