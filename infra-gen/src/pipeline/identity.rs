//! Who may do what, beyond each function's own grants: the external party's upload role, and what every
//! function's role shares (Lambda's trust, its logs, and the network interfaces a function in the VPC needs).

use super::Context;
use crate::function::LogGroup;
use crate::iam::{Condition, PolicyDocument, Principal, Statement};
use crate::identity::Role;
use crate::network::Network;
use crate::storage::Bucket;
use crate::tf::{Expr, Ref};

/// The role of a function: Lambda assumes it, and it grants `statements` (the function's own, then
/// [`runs_in_vpc`]). The role and its policy are both called `name`.
pub(super) fn function_role(
    name: &'static str,
    role_name: String,
    description: &'static str,
    statements: Vec<Statement>,
) -> Role {
    Role {
        name,
        role_name,
        description,
        trust: PolicyDocument::new(
            format!("{name}_trust"),
            vec![
                Statement::allow("LambdaAssumesRole", &["sts:AssumeRole"], Vec::new())
                    .principal(Principal::Service("lambda.amazonaws.com".into())),
            ],
        ),
        policy: PolicyDocument::new(name, statements),
    }
}

/// What every function in the VPC is granted besides its own work: writing into its log group, and the
/// network interfaces that place it in its subnets and `security_group`.
pub(super) fn runs_in_vpc(
    cx: &Context,
    logs: &LogGroup,
    network: &Network,
    security_group: Ref,
) -> Vec<Statement> {
    let ec2_arn = |resource: Expr| {
        Expr::concat([
            Expr::lit(format!("arn:aws:ec2:{}:", cx.env.region)),
            cx.account.clone(),
            Expr::lit(":"),
            resource,
        ])
    };
    let mut create = vec![
        ec2_arn(Expr::lit("network-interface/*")),
        ec2_arn(Expr::concat([
            Expr::lit("security-group/"),
            security_group.attr("id"),
        ])),
    ];
    create.extend(
        network
            .subnet_ids()
            .into_iter()
            .map(|id| ec2_arn(Expr::concat([Expr::lit("subnet/"), id]))),
    );
    vec![
        Statement::allow(
            "WriteOwnLogs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            vec![logs.arn().suffix(":*")],
        ),
        // Describe calls cannot be limited to resources; they reveal, they do not change.
        Statement::allow(
            "DescribeNetworkInterfaces",
            &["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            vec![Expr::lit("*")],
        ),
        Statement::allow(
            "CreateNetworkInterfaces",
            &["ec2:CreateNetworkInterface"],
            create,
        ),
        Statement::allow(
            "ReleaseNetworkInterfaces",
            &[
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            vec![ec2_arn(Expr::lit("network-interface/*"))],
        ),
    ]
}

/// The external party's role: it may put into the landing prefix, from its ranges, encrypted with the
/// environment's key and nothing else, and may not read, list or delete anything in the landing bucket, even if
/// another policy ever granted it. Assuming it takes the party's external id.
pub(super) fn uploader_role(cx: &Context, landing: &Bucket) -> Role {
    let party = &cx.env.external_party;
    let party_account = match &party.account_id {
        Some(id) => Expr::lit(id.clone()),
        None => cx.account.clone(),
    };
    Role {
        name: "uploader_role",
        role_name: cx.named("uploader"),
        description: "The external party: PutObject into the landing prefix from its IP ranges with the environment's key, nothing else",
        trust: PolicyDocument::new(
            "uploader_role_trust",
            vec![
                Statement::allow("ExternalPartyAssumesRole", &["sts:AssumeRole"], Vec::new())
                    .principal(Principal::Aws(Expr::concat([
                        Expr::lit("arn:aws:iam::"),
                        party_account,
                        Expr::lit(":root"),
                    ])))
                    .condition(Condition::new(
                        "StringEquals",
                        "sts:ExternalId",
                        vec![Expr::lit(party.external_id.clone())],
                    ))
                    .condition(from_party_ranges(cx)),
            ],
        ),
        policy: PolicyDocument::new("uploader_role", uploader_grants(cx, landing)),
    }
}

/// The party's source ranges, as a condition.
fn from_party_ranges(cx: &Context) -> Condition {
    let cidrs = &cx.env.external_party.source_cidrs;
    Condition::new(
        "IpAddress",
        "aws:SourceIp",
        cidrs.iter().cloned().map(Expr::Lit).collect(),
    )
}

fn uploader_grants(cx: &Context, landing: &Bucket) -> Vec<Statement> {
    let put = Statement::allow(
        "PutIntoLandingPrefix",
        &["s3:PutObject"],
        vec![
            landing
                .arn()
                .suffix(&format!("/{}*", cx.env.external_party.landing_prefix)),
        ],
    )
    .condition(from_party_ranges(cx));
    // SSE-KMS: S3 asks the key for a data key on the uploader's behalf, and a multipart upload decrypts it
    // again for every part; only through S3.
    let encrypt = Statement::allow(
        "EncryptLandingObjects",
        &["kms:GenerateDataKey", "kms:Decrypt"],
        vec![cx.key_arn.clone()],
    )
    .condition(Condition::new(
        "StringEquals",
        "kms:ViaService",
        vec![Expr::lit(format!("s3.{}.amazonaws.com", cx.env.region))],
    ));
    // Without encryption headers the bucket's default (SSE-KMS with the environment's key) applies; with
    // them, they must name that encryption and that key (by its ARN).
    let only_the_key =
        [
            (
                "DenyOtherEncryption",
                "StringNotEqualsIfExists",
                "s3:x-amz-server-side-encryption",
                Expr::lit("aws:kms"),
            ),
            (
                "DenyOtherKeys",
                "StringNotEqualsIfExists",
                "s3:x-amz-server-side-encryption-aws-kms-key-id",
                cx.key_arn.clone(),
            ),
            (
                "DenyCustomerProvidedKeys",
                "Null",
                "s3:x-amz-server-side-encryption-customer-algorithm",
                Expr::lit("false"),
            ),
        ]
        .map(|(sid, test, key, value)| {
            Statement::deny(sid, &["s3:PutObject"], vec![landing.objects()])
                .condition(Condition::new(test, key, vec![value]))
        });
    let no_reading = Statement::deny(
        "DenyReadListDelete",
        &["s3:Get*", "s3:List*", "s3:Delete*"],
        vec![landing.arn(), landing.objects()],
    );
    [put, encrypt]
        .into_iter()
        .chain(only_the_key)
        .chain([no_reading])
        .collect()
}
