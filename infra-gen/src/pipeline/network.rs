//! The VPC the functions run in, with its flow log; once the functions' roles exist, its endpoints are
//! told what they let through.

use std::collections::BTreeMap;

use super::Context;
use crate::config::Endpoint;
use crate::function::LogGroup;
use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::identity::Role;
use crate::network::{EndpointEgress, FlowLog, Network, endpoint_policies};

pub struct Vpc {
    pub network: Network,
    pub flow_logs: LogGroup,
    pub flow_logs_role: Role,
    pub network_flow_log: FlowLog,
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
        };
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
