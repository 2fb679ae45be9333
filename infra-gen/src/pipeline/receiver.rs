//! Dev's mock NiFi: the project's receiver as a Lambda behind a function URL, in the VPC so it reads its
//! secret through the endpoints.

use std::collections::BTreeMap;

use super::Context;
use super::identity::{function_role, runs_in_vpc};
use crate::config::Architecture;
use crate::function::{Function, FunctionUrl, LogGroup};
use crate::iam::Statement;
use crate::identity::Role;
use crate::network::Network;
use crate::secrets::Secret;
use crate::tf::{Expr, Ref};

/// The mock receiver's blocks.
#[derive(Debug, Clone)]
pub struct Receiver {
    pub receiver: Function,
    pub receiver_logs: LogGroup,
    pub receiver_role: Role,
    pub receiver_url: FunctionUrl,
}

impl Receiver {
    pub(super) fn new(cx: &Context, credentials: &Secret, network: &Network) -> Receiver {
        let env = cx.env;
        let function_name = cx.named("receiver");
        let receiver_logs = cx.log_group("receiver_logs", format!("/aws/lambda/{function_name}"));
        let receiver_role = function_role(
            "receiver_role",
            function_name.clone(),
            "The mock NiFi receiver: reads the endpoint credentials to check them, writes its logs",
            [
                vec![
                    Statement::allow(
                        "ReadEndpointCredentials",
                        &["secretsmanager:GetSecretValue"],
                        vec![credentials.arn()],
                    ),
                    Statement::allow(
                        "DecryptCredentials",
                        &["kms:Decrypt"],
                        vec![cx.key_arn.clone()],
                    ),
                ],
                runs_in_vpc(cx, &receiver_logs, network, network.receiver_sg()),
            ]
            .concat(),
        );
        let receiver = Function {
            name: "receiver",
            function_name,
            description: "Mock NiFi ListenHTTP (POST /contentListener) for the dev environment",
            role_arn: receiver_role.arn(),
            package: Ref::var("receiver_package"),
            architecture: env.function.architecture.as_str(),
            memory_mb: 512,
            timeout_seconds: crate::sizing::MOCK_RECEIVER_TIMEOUT_SECONDS,
            ephemeral_storage_mb: 512,
            reserved_concurrency: 5,
            environment: BTreeMap::from([
                ("CREDENTIALS_SECRET_ID", credentials.arn()),
                ("RUST_LOG", Expr::lit(env.function.rust_log.clone())),
                // The adapter forwards function URL requests to the receiver's HTTP server on this port.
                ("AWS_LWA_PORT", Expr::lit("8080")),
                (
                    "AWS_LWA_READINESS_CHECK_PATH",
                    Expr::lit("/contentListener/healthcheck"),
                ),
            ]),
            // AWS Lambda Web Adapter runs the receiver, an ordinary HTTP server, unchanged inside Lambda.
            layers: vec![format!(
                "arn:aws:lambda:{}:753240598075:layer:LambdaAdapterLayer{}:25",
                env.region,
                match env.function.architecture {
                    Architecture::Arm64 => "Arm64",
                    Architecture::X86_64 => "X86",
                }
            )],
            // Reached through its URL (inbound needs no VPC path); reads its secret through the endpoints.
            vpc: Some(network.placement(network.receiver_sg())),
            key_arn: cx.key_arn.clone(),
            publish: false,
            after: vec![receiver_role.policy_ref(), receiver_logs.r()],
        };
        let receiver_url = FunctionUrl {
            name: "receiver_url",
            function_name: receiver.function_name(),
        };
        Receiver {
            receiver,
            receiver_logs,
            receiver_role,
            receiver_url,
        }
    }
}
