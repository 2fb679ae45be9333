//! Every rendered value checked against the rules of AWS ([`crate::aws_rules`]) before anything is written or
//! deployed: each name, each tag of each resource (the provider's default tags included), and the size of each
//! policy, environment and description as AWS will receive it ([`crate::documents`]). Reading the rendered
//! module rather than the model's fields means nothing rendered escapes the check, whichever part of the model
//! it came from. Violations name the Terraform address and attribute, the rule, its source, and the fix.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws_rules::{self, Broken, Document, NAMED, UNNAMED};
use crate::config::Violations;
use crate::documents::Module;

/// Checks a rendered environment (file name → content).
pub fn check(environment: &str, files: &BTreeMap<String, String>) -> Result<(), Violations> {
    let mut v = Violations::new(environment);
    match Module::parse(files) {
        Ok(module) => {
            names(&module, &mut v);
            tags(&module, &mut v);
            sizes(&module, &mut v);
        }
        Err(error) => v.push("generated", error.to_string()),
    }
    if v.list.is_empty() { Ok(()) } else { Err(v) }
}

const NAME_FIX: &str = "every name starts with the environment's name_prefix: shorten or change it, or the name's suffix in its part, infra-gen/src/pipeline/<part>.rs";

fn names(module: &Module, v: &mut Violations) {
    for (ty, name, body) in module.resources() {
        let Some((_, attribute, kind)) = NAMED.iter().find(|(t, _, _)| *t == ty) else {
            if !UNNAMED.contains(&ty) {
                v.push(
                    format!("{ty}.{name}"),
                    format!(
                        "no naming rule is known for {ty}: add it to NAMED (with its rule and source) or UNNAMED in infra-gen/src/aws_rules.rs"
                    ),
                );
            }
            continue;
        };
        let field = format!("{ty}.{name}.{attribute}");
        let Some(template) = body.get(*attribute).and_then(Value::as_str) else {
            v.push(
                field,
                format!("{ty} has no literal {attribute}: the model names everything it creates"),
            );
            continue;
        };
        let fifo = ["fifo_queue", "fifo_topic"]
            .iter()
            .any(|k| body.get(*k) == Some(&Value::Bool(true)));
        match module.resolve(template) {
            Ok(value) => {
                if let Err(broken) = aws_rules::name(*kind, &value, fifo) {
                    v.push(field, format!("{value:?} breaks {broken}: {NAME_FIX}"));
                }
            }
            Err(error) => v.push(field, error.to_string()),
        }
    }
}

fn tags(module: &Module, v: &mut Violations) {
    let defaults = module.default_tags();
    // Each tag is checked where it is written (the defaults once), and counted on every resource it lands on.
    let mut check = |field: String, written: &BTreeMap<String, String>, count: usize| {
        for (key, value) in written {
            if let Err(broken) = aws_rules::tag(key, value) {
                v.push(
                    field.clone(),
                    format!("{key:?} = {value:?} breaks {broken}: change the tag (default tags are in Pipeline::new, infra-gen/src/pipeline.rs)"),
                );
            }
        }
        if let Err(broken) = aws_rules::tag_count(count) {
            v.push(field, format!("breaks {broken}: drop tags"));
        }
    };
    check("provider.aws.default_tags".into(), defaults, defaults.len());
    for (ty, name, body) in module.resources() {
        let Some(own) = body.get("tags").and_then(Value::as_object) else {
            continue;
        };
        let own: BTreeMap<String, String> = own
            .iter()
            .map(|(k, value)| (k.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect();
        let count = defaults
            .keys()
            .chain(own.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        check(format!("{ty}.{name}.tags"), &own, count);
    }
}

/// Where each size-limited document lives: (type, attribute, document).
const POLICIES: [(&str, &str, Document); 6] = [
    ("aws_iam_policy", "policy", Document::ManagedPolicy),
    ("aws_iam_role", "assume_role_policy", Document::TrustPolicy),
    ("aws_s3_bucket_policy", "policy", Document::BucketPolicy),
    ("aws_sqs_queue_policy", "policy", Document::QueuePolicy),
    ("aws_vpc_endpoint", "policy", Document::EndpointPolicy),
    ("aws_kms_key", "policy", Document::KeyPolicy),
];
const DESCRIPTIONS: [(&str, &str, Document); 4] = [
    (
        "aws_lambda_function",
        "description",
        Document::FunctionDescription,
    ),
    (
        "aws_cloudwatch_metric_alarm",
        "alarm_description",
        Document::AlarmDescription,
    ),
    (
        "aws_cloudwatch_composite_alarm",
        "alarm_description",
        Document::AlarmDescription,
    ),
    ("aws_iam_role", "description", Document::RoleDescription),
];
const SIZE_FIX: &str = "it grows with the environment's lists (source ranges, endpoints, resources): shorten them or split the document in its part, infra-gen/src/pipeline/<part>.rs";

/// Reports a size rule broken.
fn report(v: &mut Violations, field: String, result: Result<(), Broken>) {
    if let Err(broken) = result {
        v.push(field, format!("breaks {broken}: {SIZE_FIX}"));
    }
}

fn sizes(module: &Module, v: &mut Violations) {
    // A role's inline policies count together: role reference → (their fields, total size).
    let mut inline: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    for (ty, name, body) in module.resources() {
        let text = |attribute: &str| body.get(attribute).and_then(Value::as_str);
        for (_, attribute, document) in POLICIES.iter().filter(|(t, _, _)| *t == ty) {
            let Some(template) = text(attribute) else {
                continue;
            };
            let field = format!("{ty}.{name}.{attribute}");
            let sent = match module.policy(template) {
                Ok(sent) => sent,
                Err(error) => {
                    v.push(field, error.to_string());
                    continue;
                }
            };
            let measured = sent.measure(document.measure());
            report(v, field.clone(), aws_rules::size(*document, measured));
            if *document == Document::QueuePolicy {
                let statements = sent.json["Statement"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice);
                let most_actions = statements
                    .iter()
                    .map(|s| s["Action"].as_array().map_or(1, Vec::len))
                    .max()
                    .unwrap_or(0);
                report(
                    v,
                    field,
                    aws_rules::queue_policy_shape(statements.len(), most_actions),
                );
            }
        }
        for (_, attribute, document) in DESCRIPTIONS.iter().filter(|(t, _, _)| *t == ty) {
            if let Some(description) = text(attribute) {
                let measured = description.chars().count();
                report(
                    v,
                    format!("{ty}.{name}.{attribute}"),
                    aws_rules::size(*document, measured),
                );
            }
        }
        match (ty, text("policy"), text("role")) {
            ("aws_iam_role_policy", Some(policy), Some(role)) => match module.policy(policy) {
                Ok(sent) => {
                    let entry = inline.entry(role.to_owned()).or_default();
                    entry.0.push(format!("{ty}.{name}.policy"));
                    entry.1 += sent.measure(Document::RoleInlinePolicies.measure());
                }
                Err(error) => v.push(format!("{ty}.{name}.policy"), error.to_string()),
            },
            ("aws_lambda_function", _, _) => {
                let field = format!("{ty}.{name}.environment");
                let variables = body
                    .pointer("/environment/variables")
                    .cloned()
                    .unwrap_or_default();
                match module.resolve_value(&variables) {
                    // Measured as the JSON object of names and values: what the API carries, and more
                    // than the names and values alone.
                    Ok(resolved) => report(
                        v,
                        field,
                        aws_rules::size(Document::FunctionEnvironment, resolved.to_string().len()),
                    ),
                    Err(error) => v.push(field, error.to_string()),
                }
            }
            _ => {}
        }
    }
    for (role, (fields, size)) in inline {
        report(
            v,
            format!("{} (the inline policies of {role})", fields.join(" + ")),
            aws_rules::size(Document::RoleInlinePolicies, size),
        );
    }
}
