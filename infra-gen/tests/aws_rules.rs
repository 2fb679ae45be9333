//! AWS's rules, which the emulator does not enforce: each refuses a bad value with a message naming the rule and
//! its source, and generation refuses a rendered environment that breaks one, naming the resource and field.

mod common;

use std::collections::BTreeMap;

use common::{assert_reported, pipeline, production, refused, valid};
use infra_gen::aws_rules::{self, Document, NameKind};
use serde_json::json;

/// Asserts that `result` broke a rule whose text contains `words`, cited from an AWS documentation page.
fn assert_broken(result: Result<(), aws_rules::Broken>, words: &str) {
    let broken = result.expect_err(words);
    assert!(broken.rule.contains(words), "{broken} should say {words:?}");
    assert!(
        broken.source.starts_with("https://docs.aws.amazon.com/"),
        "{broken} cites no AWS page"
    );
}

#[test]
fn every_name_rule_refuses_what_its_service_refuses() {
    use NameKind::*;
    let cases: &[(NameKind, &str, bool, &str)] = &[
        (S3Bucket, "ab", false, "3 to 63 characters"),
        (S3Bucket, &"a".repeat(64), false, "3 to 63 characters"),
        (S3Bucket, "Landing", false, "only lowercase letters"),
        (S3Bucket, "my_landing", false, "('_' is not)"),
        (
            S3Bucket,
            "-landing",
            false,
            "begin and end with a letter or digit",
        ),
        (S3Bucket, "my..landing", false, "no two adjacent periods"),
        (
            S3Bucket,
            "192.168.5.4",
            false,
            "not formatted as an IP address",
        ),
        (
            S3Bucket,
            "xn--landing",
            false,
            "the prefix xn-- is reserved",
        ),
        (
            S3Bucket,
            "sthree-landing",
            false,
            "the prefix sthree- is reserved",
        ),
        (
            S3Bucket,
            "amzn-s3-demo-x",
            false,
            "the prefix amzn-s3-demo- is reserved",
        ),
        (
            S3Bucket,
            "landing-s3alias",
            false,
            "the suffix -s3alias is reserved",
        ),
        (
            S3Bucket,
            "landing--ol-s3",
            false,
            "the suffix --ol-s3 is reserved",
        ),
        (
            S3Bucket,
            "landing.mrap",
            false,
            "the suffix .mrap is reserved",
        ),
        (
            S3Bucket,
            "landing--x-s3",
            false,
            "the suffix --x-s3 is reserved",
        ),
        (SqsQueue, &"q".repeat(81), false, "1 to 80 characters"),
        (SqsQueue, "my.queue", false, "('.' is not)"),
        (SqsQueue, "queue.fifo", false, "('.' is not)"),
        (SqsQueue, "queue", true, "a FIFO name ends with .fifo"),
        (DynamoDbTable, "ab", false, "3 to 255 characters"),
        (DynamoDbTable, "a/b/c", false, "('/' is not)"),
        (LambdaFunction, &"f".repeat(65), false, "1 to 64 characters"),
        (LambdaFunction, "my.function", false, "('.' is not)"),
        (LambdaStatementId, "Invoke URL", false, "(' ' is not)"),
        (IamRole, &"r".repeat(65), false, "1 to 64 characters"),
        (IamRole, "role/name", false, "('/' is not)"),
        (IamPolicy, &"p".repeat(129), false, "1 to 128 characters"),
        (LogGroup, &"l".repeat(513), false, "1 to 512 characters"),
        (LogGroup, "/aws/lambda/a b", false, "(' ' is not)"),
        (Alarm, &"a".repeat(256), false, "1 to 255 characters"),
        (Alarm, "quoted \"alarm\"", false, "('\"' is not)"),
        (Dashboard, "my dashboard", false, "(' ' is not)"),
        (Secret, &"s".repeat(513), false, "1 to 512 characters"),
        (Secret, "endpoint credentials", false, "(' ' is not)"),
        (
            Secret,
            "endpoint-abcdef",
            false,
            "a hyphen followed by six characters",
        ),
        (KmsAlias, "file-aggregator", false, "begin with alias/"),
        (
            KmsAlias,
            "alias/",
            false,
            "begin with alias/ followed by a name",
        ),
        (
            KmsAlias,
            "alias/aws/file-aggregator",
            false,
            "alias/aws/ is reserved",
        ),
        (KmsAlias, "alias/a.b", false, "('.' is not)"),
        (
            KmsAlias,
            &format!("alias/{}", "k".repeat(251)),
            false,
            "1 to 256",
        ),
        (Schedule, &"s".repeat(65), false, "1 to 64 characters"),
        (Schedule, "rotate/daily", false, "('/' is not)"),
        (EventRule, "rotate daily", false, "(' ' is not)"),
        (SnsTopic, &"t".repeat(257), false, "1 to 256 characters"),
        (SnsTopic, "alarms", true, "a FIFO name ends with .fifo"),
        (
            SecurityGroup,
            "sg-aggregator",
            false,
            "cannot start with sg-",
        ),
        (Resolver, &"r".repeat(65), false, "1 to 64 characters"),
        (Resolver, "on.premise", false, "('.' is not)"),
        (Resolver, "2025", false, "not digits only"),
    ];
    for (kind, name, fifo, words) in cases {
        let result = aws_rules::name(*kind, name, *fifo);
        assert!(result.is_err(), "{kind:?} {name:?} should be refused");
        assert_broken(result, words);
    }
    // And what they accept.
    for (kind, name, fifo) in [
        (S3Bucket, "file-aggregator-dev-landing", false),
        (SqsQueue, "file-aggregator-dev-queue", false),
        (SqsQueue, "events.fifo", true),
        (KmsAlias, "alias/file-aggregator-dev", false),
        (Resolver, "file-aggregator-prod-on-premise-dns", false),
        (Resolver, "on premise 2", false),
        (Secret, "file-aggregator-dev/endpoint-credentials", false),
        (
            LogGroup,
            "/aws/lambda/file-aggregator-dev-aggregator",
            false,
        ),
    ] {
        aws_rules::name(kind, name, fifo).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn tag_rules_are_the_strictest_of_the_tagged_services() {
    // The provider's old default tag: S3 refuses the comma (InvalidTag), and moto accepts it.
    assert_broken(
        aws_rules::tag("ManagedBy", "terraform, generated by cargo xtask generate"),
        "(',' in \"terraform, generated by cargo xtask generate\" is not)",
    );
    assert_broken(aws_rules::tag("Owner", "team (data)"), "('(' in");
    // S3 allows @, DynamoDB does not; default tags land on both.
    assert_broken(aws_rules::tag("Contact", "ops@example.com"), "('@' in");
    assert_broken(aws_rules::tag(&"k".repeat(129), "v"), "a key has 1 to 128");
    assert_broken(aws_rules::tag("", "v"), "a key has 1 to 128");
    assert_broken(aws_rules::tag("k", &"v".repeat(257)), "at most 256");
    assert_broken(
        aws_rules::tag("aws:owner", "x"),
        "the prefix aws: is reserved",
    );
    assert_broken(
        aws_rules::tag("Owner", "AWS:x"),
        "the prefix aws: is reserved",
    );
    assert_broken(aws_rules::tag_count(51), "at most 50 per resource");
    aws_rules::tag("ManagedBy", infra_gen::pipeline::MANAGED_BY).expect("the default tag");
    aws_rules::tag("Équipe", "données brutes/v2 + x=1:2").expect("letters of any script");
    aws_rules::tag("Empty", "").expect("an empty value");
    aws_rules::tag_count(50).expect("50 tags");
}

#[test]
fn size_rules_refuse_one_past_each_limit() {
    for (document, limit, words) in [
        (
            Document::RoleInlinePolicies,
            10_240,
            "inline policies together is at most 10240 characters without whitespace",
        ),
        (
            Document::ManagedPolicy,
            6_144,
            "a managed policy is at most 6144",
        ),
        (
            Document::TrustPolicy,
            2_048,
            "a role trust policy (the default quota) is at most 2048",
        ),
        (
            Document::BucketPolicy,
            20_480,
            "an S3 bucket policy is at most 20480",
        ),
        (
            Document::QueuePolicy,
            8_192,
            "an SQS queue policy is at most 8192",
        ),
        (
            Document::EndpointPolicy,
            20_480,
            "a VPC endpoint policy (white space included) is at most 20480",
        ),
        (
            Document::KeyPolicy,
            32_768,
            "a KMS key policy is at most 32768",
        ),
        (
            Document::FunctionEnvironment,
            4_096,
            "environment variables together is at most 4096",
        ),
        (
            Document::FunctionDescription,
            256,
            "description is at most 256",
        ),
        (
            Document::AlarmDescription,
            1_024,
            "description is at most 1024",
        ),
        (
            Document::RoleDescription,
            1_000,
            "description is at most 1000",
        ),
    ] {
        assert_eq!(document.limit(), limit);
        aws_rules::size(document, limit).expect("at the limit");
        assert_broken(aws_rules::size(document, limit + 1), words);
    }
    assert_broken(
        aws_rules::queue_policy_shape(21, 1),
        "at most 20 statements",
    );
    assert_broken(
        aws_rules::queue_policy_shape(2, 8),
        "7 actions per statement",
    );
}

#[test]
fn a_tag_s3_refuses_stops_generation_naming_where_it_is() {
    // The default tag as it was: generation stops before anything is written.
    let mut p = pipeline(valid());
    p.default_tags.insert(
        "ManagedBy".into(),
        "terraform, generated by cargo xtask generate".into(),
    );
    let files = infra_gen::render::render(&p).expect("renders");
    let v = infra_gen::conformance::check("test", &files).expect_err("refused");
    assert_reported(
        &v,
        "provider.aws.default_tags",
        &[
            "\"ManagedBy\" = \"terraform, generated by cargo xtask generate\"",
            "(',' in",
            "https://docs.aws.amazon.com/AmazonS3/latest/API/API_Tag.html",
        ],
    );
    // A resource's own tags count with the defaults.
    let mut p = pipeline(valid());
    for i in 0..47 {
        p.default_tags.insert(format!("Tag{i}"), "x".into());
    }
    let files = infra_gen::render::render(&p).expect("renders");
    let v = infra_gen::conformance::check("test", &files).expect_err("refused");
    assert_reported(
        &v,
        "aws_vpc.network.tags",
        &["at most 50 per resource (this one would carry 51)"],
    );
    assert!(!v.names("provider.aws.default_tags"), "{v}");
}

#[test]
fn a_name_aws_refuses_stops_generation_naming_the_resource() {
    let mut p = pipeline(valid());
    p.landing.bucket = "xn--file-aggregator-landing".into();
    p.credentials.secret_name = "file-aggregator/credentials-abcdef".into();
    p.key.alias = "alias/aws/file-aggregator".into();
    let files = infra_gen::render::render(&p).expect("renders");
    let v = infra_gen::conformance::check("test", &files).expect_err("refused");
    assert_reported(
        &v,
        "aws_s3_bucket.landing.bucket",
        &[
            "\"xn--file-aggregator-landing\"",
            "the prefix xn-- is reserved",
            "bucketnamingrules.html",
        ],
    );
    assert_reported(
        &v,
        "aws_secretsmanager_secret.credentials.name",
        &[
            "a hyphen followed by six characters",
            "API_CreateSecret.html",
        ],
    );
    assert_reported(
        &v,
        "aws_kms_alias.key.name",
        &["alias/aws/ is reserved", "API_CreateAlias.html"],
    );
}

#[test]
fn the_links_rules_refuse_what_aws_refuses() {
    assert_broken(
        aws_rules::customer_gateway_asn(0, "eu-west-2"),
        "1 to 4,294,967,295",
    );
    assert_broken(
        aws_rules::customer_gateway_asn(7224, "us-east-1"),
        "not 7224, reserved in us-east-1",
    );
    assert_broken(
        aws_rules::customer_gateway_asn(9059, "eu-west-1"),
        "not 9059, reserved in eu-west-1",
    );
    for (asn, region) in [
        (7224, "eu-west-2"),
        (65010, "eu-west-2"),
        (4_294_967_295, "us-east-1"),
    ] {
        aws_rules::customer_gateway_asn(asn, region).unwrap_or_else(|e| panic!("{asn}: {e}"));
    }
    for asn in [1, 64_511, 65_535, 4_199_999_999, 4_294_967_295] {
        assert_broken(
            aws_rules::amazon_side_asn(asn),
            "64512 to 65534 or 4200000000",
        );
    }
    for asn in [64_512, 65_534, 4_200_000_000, 4_294_967_294] {
        aws_rules::amazon_side_asn(asn).unwrap_or_else(|e| panic!("{asn}: {e}"));
    }
    for id in [
        "tgw-0123",
        "tgw-0123456789ABCDEF0",
        "tgw-0123456g",
        "vgw-01234567",
        "0123456789abcdef0",
    ] {
        assert_broken(
            aws_rules::transit_gateway_id(id),
            "8 or 17 lowercase hexadecimal",
        );
    }
    for id in ["tgw-0123abcd", "tgw-0123456789abcdef0"] {
        aws_rules::transit_gateway_id(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    for id in [
        "dxgw-0123",
        "5f294f92bafb4011916d9b0bd0d0e0f0",
        "5f294f92-bafb-4011-916d-9b0bd0d0e0fz",
    ] {
        assert_broken(aws_rules::direct_connect_gateway_id(id), "a UUID");
    }
    aws_rules::direct_connect_gateway_id("5f294f92-bafb-4011-916d-9b0bd0d0e0f0").expect("a UUID");
    for domain in [
        "example.internal.",
        "-x.internal",
        "under_score.internal",
        "a..b",
        "",
        &format!("{}.x", "l".repeat(64)),
    ] {
        assert_broken(aws_rules::resolver_domain(domain), "dot-separated labels");
    }
    for domain in ["onprem.example.internal", "corp", "a-1.example.com"] {
        aws_rules::resolver_domain(domain).unwrap_or_else(|e| panic!("{domain}: {e}"));
    }
}

#[test]
fn a_resolver_name_aws_refuses_stops_generation_naming_the_resource() {
    let mut p = pipeline(production());
    if let Some(dns) = p.on_premise_dns.as_mut() {
        dns.name_prefix = "f".repeat(50);
    }
    let files = infra_gen::render::render(&p).expect("renders");
    let v = infra_gen::conformance::check("test", &files).expect_err("refused");
    for field in [
        "aws_route53_resolver_endpoint.on_premise_dns.name",
        "aws_route53_resolver_rule.on_premise_dns.name",
        "aws_route53_resolver_rule_association.on_premise_dns.name",
    ] {
        assert_reported(
            &v,
            field,
            &[
                "1 to 64 characters",
                "API_route53resolver_CreateResolverRule.html",
            ],
        );
    }
}

#[test]
fn a_resource_type_without_a_naming_rule_stops_generation() {
    let files = BTreeMap::from([(
        "x.tf.json".to_owned(),
        json!({"resource": {"aws_sfn_state_machine": {"flow": {"name": "f"}}}}).to_string(),
    )]);
    let v = infra_gen::conformance::check("test", &files).expect_err("refused");
    assert_reported(
        &v,
        "aws_sfn_state_machine.flow",
        &["no naming rule is known", "aws_rules.rs"],
    );
}

#[test]
fn policies_that_grow_past_aws_limits_are_refused_before_a_deploy() {
    // Each source range is in the uploader's trust and inline policies: enough of them break both.
    let mut env = valid();
    env.external_party.source_cidrs = (0..600)
        .map(|i| format!("198.{}.{}.0/24", i / 256, i % 256))
        .collect();
    let v = refused(env);
    assert_reported(
        &v,
        "aws_iam_role.uploader_role.assume_role_policy",
        &[
            "a role trust policy (the default quota) is at most 2048",
            "reference_iam-quotas.html",
        ],
    );
    assert_reported(
        &v,
        "aws_iam_role_policy.uploader_role.policy (the inline policies of ${aws_iam_role.uploader_role.id})",
        &["a role's inline policies together is at most 10240 characters without whitespace"],
    );
    // A function's environment beyond 4 KB.
    let mut env = production();
    env.function.tuning = vec![("EXTRA", "x".repeat(4_000))];
    let v = refused(env);
    assert_reported(
        &v,
        "aws_lambda_function.aggregator.environment",
        &[
            "environment variables together is at most 4096",
            "gettingstarted-limits.html",
        ],
    );
}

#[test]
fn the_environments_are_far_from_every_size_limit() {
    // Measured on what generation rebuilds: none is within a factor of two of its limit, so ordinary growth
    // (a few more ranges, endpoints or variables) cannot break a deploy unnoticed.
    for env in [valid(), production()] {
        let files = common::rendered(env);
        let module = infra_gen::documents::Module::parse(&files).expect("parses");
        let mut inline = 0;
        for (ty, _, body) in module.resources() {
            let measured = |attribute: &str, document: Document| {
                let sent = module
                    .policy(body[attribute].as_str().expect("a policy"))
                    .expect("resolves");
                let size = sent.measure(document.measure());
                assert!(size * 2 < document.limit(), "{ty}.{attribute}: {size}");
                size
            };
            match ty {
                "aws_iam_role_policy" => inline += measured("policy", Document::RoleInlinePolicies),
                "aws_s3_bucket_policy" => _ = measured("policy", Document::BucketPolicy),
                "aws_sqs_queue_policy" => _ = measured("policy", Document::QueuePolicy),
                "aws_vpc_endpoint" => _ = measured("policy", Document::EndpointPolicy),
                "aws_kms_key" => _ = measured("policy", Document::KeyPolicy),
                _ => {}
            }
        }
        assert!(inline > 0);
    }
}
