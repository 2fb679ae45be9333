//! The documented rules of AWS that a deploy would otherwise discover, and that moto does not enforce
//! (docs/emulator-gaps.md): names, tags, the size of documents. Each rule states what it demands and the AWS
//! page that says so, and [`crate::conformance`] applies them to every rendered value.

use std::fmt;
use std::ops::RangeInclusive;

/// A documented rule a value breaks: what the rule demands, and where AWS says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub rule: String,
    pub source: &'static str,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the rule \"{}\" ({})", self.rule, self.source)
    }
}

/// The kinds of names AWS checks, one per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    S3Bucket,
    SqsQueue,
    DynamoDbTable,
    LambdaFunction,
    LambdaAlias,
    LambdaStatementId,
    IamRole,
    IamPolicy,
    LogGroup,
    Alarm,
    Dashboard,
    Secret,
    KmsAlias,
    Schedule,
    EventRule,
    SnsTopic,
    SecurityGroup,
    /// Route 53 Resolver endpoints, rules and rule associations.
    Resolver,
    InventoryConfiguration,
    Budget,
}

/// Where each resource type keeps a name AWS checks: (type, attribute, rule).
pub const NAMED: &[(&str, &str, NameKind)] = &[
    ("aws_s3_bucket", "bucket", NameKind::S3Bucket),
    ("aws_sqs_queue", "name", NameKind::SqsQueue),
    ("aws_dynamodb_table", "name", NameKind::DynamoDbTable),
    (
        "aws_lambda_function",
        "function_name",
        NameKind::LambdaFunction,
    ),
    ("aws_lambda_alias", "name", NameKind::LambdaAlias),
    (
        "aws_lambda_permission",
        "statement_id",
        NameKind::LambdaStatementId,
    ),
    ("aws_iam_role", "name", NameKind::IamRole),
    ("aws_iam_role_policy", "name", NameKind::IamPolicy),
    ("aws_iam_policy", "name", NameKind::IamPolicy),
    ("aws_cloudwatch_log_group", "name", NameKind::LogGroup),
    ("aws_cloudwatch_metric_alarm", "alarm_name", NameKind::Alarm),
    (
        "aws_cloudwatch_composite_alarm",
        "alarm_name",
        NameKind::Alarm,
    ),
    (
        "aws_cloudwatch_dashboard",
        "dashboard_name",
        NameKind::Dashboard,
    ),
    ("aws_secretsmanager_secret", "name", NameKind::Secret),
    ("aws_kms_alias", "name", NameKind::KmsAlias),
    ("aws_scheduler_schedule", "name", NameKind::Schedule),
    ("aws_cloudwatch_event_rule", "name", NameKind::EventRule),
    ("aws_sns_topic", "name", NameKind::SnsTopic),
    ("aws_security_group", "name", NameKind::SecurityGroup),
    ("aws_route53_resolver_endpoint", "name", NameKind::Resolver),
    ("aws_route53_resolver_rule", "name", NameKind::Resolver),
    (
        "aws_route53_resolver_rule_association",
        "name",
        NameKind::Resolver,
    ),
    (
        "aws_s3_bucket_inventory",
        "name",
        NameKind::InventoryConfiguration,
    ),
    ("aws_budgets_budget", "name", NameKind::Budget),
];

/// Resource types that give nothing a name of their own (their `*_name` attributes, if any, refer to other
/// blocks). A type in neither list stops generation until someone decides which list it belongs to.
pub const UNNAMED: &[&str] = &[
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_notification",
    "aws_sqs_queue_policy",
    "aws_sns_topic_policy",
    "aws_kms_key",
    "aws_secretsmanager_secret_rotation",
    "aws_lambda_event_source_mapping",
    "aws_lambda_function_url",
    "aws_sns_topic_subscription",
    "aws_vpc",
    "aws_default_security_group",
    "aws_subnet",
    "aws_route_table",
    "aws_route_table_association",
    "aws_route",
    "aws_vpc_endpoint",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "aws_internet_gateway",
    "aws_eip",
    "aws_nat_gateway",
    "aws_flow_log",
    "aws_vpn_gateway",
    "aws_customer_gateway",
    "aws_vpn_connection",
    "aws_vpn_connection_route",
    "aws_ec2_transit_gateway_vpc_attachment",
    "aws_ec2_transit_gateway_route",
    "aws_dx_gateway_association",
];

const RESOLVER_SOURCE: &str = "https://docs.aws.amazon.com/Route53/latest/APIReference/API_route53resolver_CreateResolverRule.html";

/// The letters, digits and symbols a name may hold.
struct Charset {
    allows: fn(char) -> bool,
    text: &'static str,
}

const ALNUM_DASH_UNDERSCORE: Charset = Charset {
    allows: |c| c.is_ascii_alphanumeric() || c == '-' || c == '_',
    text: "ASCII letters, digits, - and _",
};
const ALNUM_DASH_UNDERSCORE_DOT: Charset = Charset {
    allows: |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
    text: "ASCII letters, digits, - _ and .",
};
const IAM_NAME: Charset = Charset {
    allows: |c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c),
    text: "ASCII letters, digits and + = , . @ _ -",
};

/// One naming rule: what it names, its length, its characters, and its source.
struct NameSpec {
    what: &'static str,
    length: RangeInclusive<usize>,
    charset: Charset,
    source: &'static str,
}

impl NameKind {
    fn spec(self) -> NameSpec {
        use NameKind::*;
        let spec = |what, length, charset, source| NameSpec {
            what,
            length,
            charset,
            source,
        };
        match self {
            S3Bucket => spec(
                "S3 bucket names",
                3..=63,
                Charset {
                    allows: |c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'
                    },
                    text: "lowercase letters, digits, . and -",
                },
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html",
            ),
            SqsQueue => spec(
                "SQS queue names",
                1..=80,
                ALNUM_DASH_UNDERSCORE,
                "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html",
            ),
            DynamoDbTable => spec(
                "DynamoDB table names",
                3..=255,
                ALNUM_DASH_UNDERSCORE_DOT,
                "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html",
            ),
            LambdaFunction => spec(
                "Lambda function names",
                1..=64,
                ALNUM_DASH_UNDERSCORE,
                "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
            ),
            LambdaAlias => spec(
                "Lambda alias names",
                1..=128,
                ALNUM_DASH_UNDERSCORE,
                "https://docs.aws.amazon.com/lambda/latest/api/API_CreateAlias.html",
            ),
            LambdaStatementId => spec(
                "Lambda permission statement ids",
                1..=100,
                ALNUM_DASH_UNDERSCORE,
                "https://docs.aws.amazon.com/lambda/latest/api/API_AddPermission.html",
            ),
            IamRole => spec(
                "IAM role names",
                1..=64,
                IAM_NAME,
                "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
            ),
            IamPolicy => spec(
                "IAM policy names",
                1..=128,
                IAM_NAME,
                "https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutRolePolicy.html",
            ),
            LogGroup => spec(
                "CloudWatch Logs log group names",
                1..=512,
                Charset {
                    allows: |c| c.is_ascii_alphanumeric() || "._-/#".contains(c),
                    text: "ASCII letters, digits and . _ - / #",
                },
                "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html",
            ),
            Alarm => spec(
                "CloudWatch alarm names",
                1..=255,
                // A composite alarm's rule quotes its children's names: a quote or a control character
                // would break it.
                Charset {
                    allows: |c| !c.is_control() && c != '"',
                    text: "printable characters other than \"",
                },
                "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
            ),
            Dashboard => spec(
                "CloudWatch dashboard names",
                1..=255,
                ALNUM_DASH_UNDERSCORE,
                "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html",
            ),
            Secret => spec(
                "Secrets Manager secret names",
                1..=512,
                Charset {
                    allows: |c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c),
                    text: "ASCII letters, digits and / _ + = . @ -",
                },
                "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html",
            ),
            KmsAlias => spec(
                "KMS alias names",
                1..=256,
                Charset {
                    allows: |c| c.is_ascii_alphanumeric() || "/_-".contains(c),
                    text: "ASCII letters, digits and / _ -",
                },
                "https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html",
            ),
            Schedule => spec(
                "EventBridge Scheduler schedule names",
                1..=64,
                ALNUM_DASH_UNDERSCORE_DOT,
                "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html",
            ),
            EventRule => spec(
                "EventBridge rule names",
                1..=64,
                ALNUM_DASH_UNDERSCORE_DOT,
                "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html",
            ),
            SnsTopic => spec(
                "SNS topic names",
                1..=256,
                ALNUM_DASH_UNDERSCORE,
                "https://docs.aws.amazon.com/sns/latest/api/API_CreateTopic.html",
            ),
            // The API reference does not state the rule; S3 refuses a longer id (AWS support, in aws-cdk#27793)
            // and the console names the characters (cfn-lint#1550).
            InventoryConfiguration => spec(
                "S3 inventory configuration ids",
                1..=64,
                ALNUM_DASH_UNDERSCORE_DOT,
                "https://github.com/aws/aws-cdk/issues/27793 and https://github.com/aws-cloudformation/cfn-lint/issues/1550",
            ),
            SecurityGroup => spec(
                "EC2 security group names",
                1..=255,
                Charset {
                    allows: |c| c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c),
                    text: "ASCII letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
                },
                "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html",
            ),
            Resolver => spec(
                "Route 53 Resolver names",
                1..=64,
                Charset {
                    allows: |c| c.is_ascii_alphanumeric() || "-_ ".contains(c),
                    text: "ASCII letters, digits, - _ and spaces",
                },
                RESOLVER_SOURCE,
            ),
            Budget => spec(
                "AWS Budgets budget names",
                1..=100,
                Charset {
                    allows: |c| !c.is_control() && c != ':' && c != '\\',
                    text: "printable characters other than : and \\",
                },
                "https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html",
            ),
        }
    }
}

/// Checks a name against its service's rule. `fifo` says whether the queue or topic is a FIFO one, whose
/// name ends with `.fifo` (and only then).
pub fn name(kind: NameKind, value: &str, fifo: bool) -> Result<(), Broken> {
    let spec = kind.spec();
    let broken = |rule: String| {
        Err(Broken {
            rule: format!("{}: {rule}", spec.what),
            source: spec.source,
        })
    };
    let length = value.chars().count();
    if !spec.length.contains(&length) {
        return broken(format!(
            "{} to {} characters (this one has {length})",
            spec.length.start(),
            spec.length.end()
        ));
    }
    let base = match kind {
        NameKind::SqsQueue | NameKind::SnsTopic => match (fifo, value.strip_suffix(".fifo")) {
            (true, Some(base)) => base,
            (true, None) => return broken("a FIFO name ends with .fifo".into()),
            (false, _) => value,
        },
        _ => value,
    };
    if let Some(c) = base.chars().find(|c| !(spec.charset.allows)(*c)) {
        return broken(format!("only {} ({c:?} is not)", spec.charset.text));
    }
    match kind {
        NameKind::S3Bucket => bucket_rules(value).map_or(Ok(()), broken),
        NameKind::KmsAlias => {
            let lower = value.to_ascii_lowercase();
            if !value.starts_with("alias/") || value.len() == "alias/".len() {
                broken("begin with alias/ followed by a name".into())
            } else if lower.starts_with("alias/aws/") {
                broken("alias/aws/ is reserved for AWS managed keys".into())
            } else {
                Ok(())
            }
        }
        NameKind::Secret => match value.rsplit_once('-') {
            // Secrets Manager appends "-" and six characters to the ARN; a name ending like that makes
            // partial-ARN lookups ambiguous, which the API reference tells not to do.
            Some((_, tail)) if tail.chars().count() == 6 => {
                broken("do not end with a hyphen followed by six characters".into())
            }
            _ => Ok(()),
        },
        NameKind::SecurityGroup if value.starts_with("sg-") => {
            broken("cannot start with sg-".into())
        }
        NameKind::Resolver if value.chars().all(|c| c.is_ascii_digit()) => {
            broken("not digits only".into())
        }
        NameKind::Budget if value.contains("/action/") => broken("not containing /action/".into()),
        // An all-digit name would read as a version number.
        NameKind::LambdaAlias if value.chars().all(|c| c.is_ascii_digit()) => {
            broken("not only digits (that is a version)".into())
        }
        _ => Ok(()),
    }
}

/// The S3 bucket rules beyond length and characters; the broken one, if any.
fn bucket_rules(name: &str) -> Option<String> {
    let first_last_alnum = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_last_alnum {
        return Some("begin and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Some("no two adjacent periods".into());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("not formatted as an IP address".into());
    }
    if let Some(prefix) = ["xn--", "sthree-", "amzn-s3-demo-"]
        .into_iter()
        .find(|p| name.starts_with(p))
    {
        return Some(format!("the prefix {prefix} is reserved"));
    }
    ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .into_iter()
        .find(|s| name.ends_with(s))
        .map(|suffix| format!("the suffix {suffix} is reserved"))
}

/// At most this many tags per resource (the default tags included).
pub const MAX_TAGS_PER_RESOURCE: usize = 50;
const TAG_SOURCE: &str = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_Tag.html and https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TaggingRestrictions.html";

/// Checks one tag against the strictest rules of the services the model tags, since default tags land on all
/// of them: S3's pattern `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$` less `@`, which DynamoDB refuses; keys of 1 to 128
/// characters, values of up to 256; the `aws:` prefix reserved.
pub fn tag(key: &str, value: &str) -> Result<(), Broken> {
    let broken = |rule: String| {
        Err(Broken {
            rule: format!("tags: {rule}"),
            source: TAG_SOURCE,
        })
    };
    // Letters and digits by Rust's Unicode classes, which are \p{L} and \p{N} plus a few combining marks;
    // separators by whitespace that is not a control character (\p{Z}).
    let allowed = |c: char| {
        c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-".contains(c)
    };
    let key_length = key.chars().count();
    if !(1..=128).contains(&key_length) {
        return broken(format!(
            "a key has 1 to 128 characters ({key:?} has {key_length})"
        ));
    }
    let value_length = value.chars().count();
    if value_length > 256 {
        return broken(format!(
            "a value has at most 256 characters (the value of {key:?} has {value_length})"
        ));
    }
    for (what, text) in [("key", key), ("value", value)] {
        if let Some(c) = text.chars().find(|c| !allowed(*c)) {
            return broken(format!(
                "a {what} holds only letters, digits, spaces and _ . : / = + - ({c:?} in {text:?} is not)"
            ));
        }
        if text.to_ascii_lowercase().starts_with("aws:") {
            return broken(format!(
                "the prefix aws: is reserved for AWS ({what} {text:?})"
            ));
        }
    }
    Ok(())
}

/// Checks how many tags one resource carries.
pub fn tag_count(count: usize) -> Result<(), Broken> {
    if count > MAX_TAGS_PER_RESOURCE {
        return Err(Broken {
            rule: format!(
                "tags: at most {MAX_TAGS_PER_RESOURCE} per resource (this one would carry {count})"
            ),
            source: "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html",
        });
    }
    Ok(())
}

/// How a document's size is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// Characters with whitespace removed (IAM: "IAM does not count white space").
    CharactersWithoutWhitespace,
    /// Bytes or characters of the text as Terraform sends it (all the model renders is ASCII).
    AsSent,
}

/// The documents whose size AWS limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// All inline policies of one role together.
    RoleInlinePolicies,
    ManagedPolicy,
    TrustPolicy,
    BucketPolicy,
    QueuePolicy,
    EndpointPolicy,
    KeyPolicy,
    /// A function's environment variables, measured as their JSON object.
    FunctionEnvironment,
    FunctionDescription,
    AlarmDescription,
    RoleDescription,
}

impl Document {
    /// (what, limit, measure, source).
    fn spec(self) -> (&'static str, usize, Measure, &'static str) {
        use Document::*;
        use Measure::*;
        const IAM_QUOTAS: &str =
            "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html";
        match self {
            RoleInlinePolicies => (
                "a role's inline policies together",
                10_240,
                CharactersWithoutWhitespace,
                IAM_QUOTAS,
            ),
            ManagedPolicy => (
                "a managed policy",
                6_144,
                CharactersWithoutWhitespace,
                IAM_QUOTAS,
            ),
            TrustPolicy => (
                "a role trust policy (the default quota)",
                2_048,
                CharactersWithoutWhitespace,
                IAM_QUOTAS,
            ),
            BucketPolicy => (
                "an S3 bucket policy",
                20 * 1024,
                AsSent,
                "https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-iam-policies.html",
            ),
            QueuePolicy => (
                "an SQS queue policy",
                8_192,
                AsSent,
                "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-policies.html",
            ),
            EndpointPolicy => (
                "a VPC endpoint policy (white space included)",
                20_480,
                AsSent,
                "https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html",
            ),
            KeyPolicy => (
                "a KMS key policy",
                32 * 1024,
                AsSent,
                "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html",
            ),
            FunctionEnvironment => (
                "a Lambda function's environment variables together",
                4 * 1024,
                AsSent,
                "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
            ),
            FunctionDescription => (
                "a Lambda function's description",
                256,
                AsSent,
                "https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html",
            ),
            AlarmDescription => (
                "a CloudWatch alarm's description",
                1_024,
                AsSent,
                "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
            ),
            RoleDescription => (
                "an IAM role's description",
                1_000,
                AsSent,
                "https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html",
            ),
        }
    }

    /// How this document's size is counted.
    pub fn measure(self) -> Measure {
        self.spec().2
    }

    /// The largest size AWS accepts.
    pub fn limit(self) -> usize {
        self.spec().1
    }
}

/// Checks a document's measured size against its limit.
pub fn size(document: Document, measured: usize) -> Result<(), Broken> {
    let (what, limit, measure, source) = document.spec();
    if measured <= limit {
        return Ok(());
    }
    let unit = match measure {
        Measure::CharactersWithoutWhitespace => "characters without whitespace",
        Measure::AsSent => "characters",
    };
    Err(Broken {
        rule: format!("{what} is at most {limit} {unit} (this one is {measured})"),
        source,
    })
}

/// SQS's limits on a queue policy's shape besides its bytes: statements, and actions per statement.
pub fn queue_policy_shape(statements: usize, most_actions: usize) -> Result<(), Broken> {
    if statements > 20 || most_actions > 7 {
        return Err(Broken {
            rule: format!(
                "an SQS queue policy has at most 20 statements and 7 actions per statement (this one: {statements} statements, up to {most_actions} actions)"
            ),
            source: "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-policies.html",
        });
    }
    Ok(())
}

/// Checks an external id an uploader must present to assume its role.
pub fn external_id(value: &str) -> Result<(), Broken> {
    let length = value.chars().count();
    let plain = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c));
    if !(2..=1224).contains(&length) || !plain {
        return Err(Broken {
            rule: format!(
                "an external id has 2 to 1224 characters, ASCII letters, digits and _ + = , . @ : / - (this one has {length})"
            ),
            source: "https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html",
        });
    }
    Ok(())
}

/// A rule broken, cited from `source`.
fn refuse(rule: String, source: &'static str) -> Result<(), Broken> {
    Err(Broken { rule, source })
}

const CUSTOMER_GATEWAY_SOURCE: &str =
    "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateCustomerGateway.html";

/// Checks the BGP ASN of a customer gateway (the on-premise router) in `region`: 1 to 4,294,967,295
/// (`bgp_asn` up to 2,147,483,647, `bgp_asn_extended` above), except the ASNs AWS reserves in a region.
pub fn customer_gateway_asn(asn: u32, region: &str) -> Result<(), Broken> {
    const RESERVED: [(u32, &str); 2] = [(7224, "us-east-1"), (9059, "eu-west-1")];
    if asn == 0 {
        return refuse(
            "a customer gateway's BGP ASN is 1 to 4,294,967,295".into(),
            CUSTOMER_GATEWAY_SOURCE,
        );
    }
    match RESERVED
        .iter()
        .find(|(reserved, r)| *reserved == asn && *r == region)
    {
        Some((reserved, r)) => refuse(
            format!("a customer gateway's BGP ASN is not {reserved}, reserved in {r}"),
            CUSTOMER_GATEWAY_SOURCE,
        ),
        None => Ok(()),
    }
}

/// Checks the Amazon side ASN of a virtual private gateway: a private ASN, 64512 to 65534 or 4200000000 to
/// 4294967294.
pub fn amazon_side_asn(asn: u32) -> Result<(), Broken> {
    if (64_512..=65_534).contains(&asn) || (4_200_000_000..=4_294_967_294).contains(&asn) {
        return Ok(());
    }
    refuse(
        format!(
            "the Amazon side ASN of a virtual private gateway is private: 64512 to 65534 or 4200000000 to 4294967294 (this one is {asn})"
        ),
        "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpnGateway.html",
    )
}

/// Checks the id of an existing Transit Gateway: `tgw-` and 8 or 17 lowercase hexadecimal digits.
pub fn transit_gateway_id(id: &str) -> Result<(), Broken> {
    let digits = id.strip_prefix("tgw-").unwrap_or_default();
    let hex = digits
        .chars()
        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if hex && matches!(digits.len(), 8 | 17) {
        return Ok(());
    }
    refuse(
        format!(
            "a Transit Gateway id is tgw- and 8 or 17 lowercase hexadecimal digits ({id:?} is not)"
        ),
        "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html",
    )
}

/// Checks the id of an existing Direct Connect gateway: a UUID (8-4-4-4-12 hexadecimal digits).
pub fn direct_connect_gateway_id(id: &str) -> Result<(), Broken> {
    let groups: Vec<&str> = id.split('-').collect();
    let shaped = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()));
    if shaped {
        return Ok(());
    }
    refuse(
        format!(
            "a Direct Connect gateway id is a UUID such as 5f294f92-bafb-4011-916d-9b0bd0d0e0f0 ({id:?} is not)"
        ),
        "https://docs.aws.amazon.com/directconnect/latest/APIReference/API_DirectConnectGateway.html",
    )
}

/// Checks the domain a Resolver rule forwards: at most 256 characters, dot-separated labels of 1 to 63
/// letters, digits and inner hyphens, written without the root's trailing dot.
pub fn resolver_domain(domain: &str) -> Result<(), Broken> {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if domain.len() <= 256 && domain.split('.').all(label_ok) {
        return Ok(());
    }
    refuse(
        format!(
            "a forwarded domain is at most 256 characters of dot-separated labels, each 1 to 63 letters, digits and inner hyphens, without a trailing dot ({domain:?} is not)"
        ),
        RESOLVER_SOURCE,
    )
}
