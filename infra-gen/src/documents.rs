//! The documents AWS receives, rebuilt from the rendered Terraform JSON, so their sizes are measured on what a
//! deploy sends rather than estimated from the model: every `${...}` reference is replaced by the value AWS will
//! see or one at least as long (an account id has 12 digits, a key id is a 36-character UUID, a subnet id has 17
//! hex digits after `subnet-`), and every `aws_iam_policy_document` data source becomes the policy JSON it
//! produces, indented as the provider indents it. A reference this module cannot size is an error, so a new kind
//! of reference is taught here rather than measured as nothing.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Stands for the account id: 12 digits, like every account id.
const ACCOUNT: &str = "123456789012";
/// Stands for a KMS key id: a UUID.
const KEY_ID: &str = "00000000-0000-0000-0000-000000000000";
/// Stands for the 17 hex digits of an EC2 resource id.
const EC2_ID: &str = "0123456789abcdef0";
/// Stands for the 32 characters of a function URL's id.
const URL_ID: &str = "abcdefghijklmnopqrstuvwxyz012345";
/// Secrets Manager appends a hyphen and six random characters to a secret's ARN.
const SECRET_SUFFIX: &str = "-AbCdEf";

/// Why a template could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error(
        "cannot size the reference ${{{0}}}: teach infra-gen/src/documents.rs the value it stands for"
    )]
    Reference(String),
    #[error("an unterminated ${{ in {0:?}")]
    Unterminated(String),
    #[error("{what} is not valid JSON once resolved: {message}")]
    Json { what: String, message: String },
    #[error("could not read the rendered file {file}: {message}")]
    File { file: String, message: String },
}

/// A JSON document as it is sent, and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub text: String,
    pub json: Value,
}

impl Sent {
    /// Its size as AWS counts it.
    pub fn measure(&self, measure: crate::aws_rules::Measure) -> usize {
        match measure {
            crate::aws_rules::Measure::AsSent => self.text.chars().count(),
            crate::aws_rules::Measure::CharactersWithoutWhitespace => {
                self.text.chars().filter(|c| !c.is_whitespace()).count()
            }
        }
    }
}

/// The rendered module, read back: resources and data sources by (type, name), and the provider's settings.
#[derive(Debug, Default)]
pub struct Module {
    resources: BTreeMap<(String, String), Value>,
    data: BTreeMap<(String, String), Value>,
    region: String,
    default_tags: BTreeMap<String, String>,
}

/// Collects the `<kind>.<type>.<name>` blocks of one file into `into`.
fn collect(root: &Value, kind: &str, into: &mut BTreeMap<(String, String), Value>) {
    let Some(types) = root.get(kind).and_then(Value::as_object) else {
        return;
    };
    for (ty, blocks) in types {
        for (name, body) in blocks.as_object().into_iter().flatten() {
            into.insert((ty.clone(), name.clone()), body.clone());
        }
    }
}

impl Module {
    /// Reads every `*.tf.json` file of a rendered environment.
    pub fn parse(files: &BTreeMap<String, String>) -> Result<Module, Unresolved> {
        let mut module = Module::default();
        for (file, text) in files.iter().filter(|(f, _)| f.ends_with(".tf.json")) {
            let root: Value = serde_json::from_str(text).map_err(|e| Unresolved::File {
                file: file.clone(),
                message: e.to_string(),
            })?;
            collect(&root, "resource", &mut module.resources);
            collect(&root, "data", &mut module.data);
            if let Some(aws) = root.pointer("/provider/aws") {
                module.region = aws["region"].as_str().unwrap_or_default().to_owned();
                if let Some(tags) = aws.pointer("/default_tags/tags").and_then(Value::as_object) {
                    module.default_tags = tags
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect();
                }
            }
        }
        Ok(module)
    }

    /// Every resource: (type, name, body).
    pub fn resources(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.resources
            .iter()
            .map(|((ty, name), body)| (ty.as_str(), name.as_str(), body))
    }

    /// The provider's default tags, which land on every taggable resource.
    pub fn default_tags(&self) -> &BTreeMap<String, String> {
        &self.default_tags
    }

    /// A Terraform string template with every reference replaced by what AWS will see.
    pub fn resolve(&self, template: &str) -> Result<String, Unresolved> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(at) = rest.find(['$', '%']) {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            if let Some(tail) = rest
                .strip_prefix("$${")
                .or_else(|| rest.strip_prefix("%%{"))
            {
                out.push_str(&rest[1..3]);
                rest = tail;
            } else if let Some(tail) = rest.strip_prefix("${") {
                let end = closing_brace(tail)
                    .ok_or_else(|| Unresolved::Unterminated(template.to_owned()))?;
                out.push_str(&self.expression(&tail[..end])?);
                rest = &tail[end + 1..];
            } else {
                out.push_str(&rest[..1]);
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Every string in a JSON value resolved.
    pub fn resolve_value(&self, value: &Value) -> Result<Value, Unresolved> {
        Ok(match value {
            Value::String(s) => Value::String(self.resolve(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.resolve_value(item))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve_value(v)?)))
                    .collect::<Result<Map<_, _>, Unresolved>>()?,
            ),
            other => other.clone(),
        })
    }

    /// A policy attribute (a data source's `json`, or an inline JSON template) as AWS receives it.
    pub fn policy(&self, template: &str) -> Result<Sent, Unresolved> {
        let text = self.resolve(template)?;
        let json = serde_json::from_str(&text).map_err(|e| Unresolved::Json {
            what: template.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Sent { text, json })
    }

    /// One `${...}` expression: a block attribute, or a data source's attribute.
    fn expression(&self, expression: &str) -> Result<String, Unresolved> {
        let unresolved = || Unresolved::Reference(expression.to_owned());
        let parts: Vec<&str> = expression.split('.').collect();
        let identifier =
            |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !parts.iter().all(|p| identifier(p)) {
            return Err(unresolved());
        }
        match parts.as_slice() {
            ["data", "aws_caller_identity", _, "account_id"] => Ok(ACCOUNT.to_owned()),
            ["data", "aws_iam_policy_document", name, "json"] => {
                let body = self
                    .data
                    .get(&("aws_iam_policy_document".to_owned(), (*name).to_owned()))
                    .ok_or_else(unresolved)?;
                let policy = policy_json(&self.resolve_value(body)?);
                // The provider indents the document it renders; whitespace counts where AWS counts it.
                serde_json::to_string_pretty(&policy).map_err(|e| Unresolved::Json {
                    what: expression.to_owned(),
                    message: e.to_string(),
                })
            }
            [ty, name, attribute] => self.attribute(ty, name, attribute).ok_or_else(unresolved),
            _ => Err(unresolved()),
        }
    }

    /// The value of a resource's attribute AWS will see, or one as long.
    fn attribute(&self, ty: &str, name: &str, attribute: &str) -> Option<String> {
        let body = self.resources.get(&(ty.to_owned(), name.to_owned()))?;
        let own = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .and_then(|s| self.resolve(s).ok())
        };
        let (region, account) = (self.region.as_str(), ACCOUNT);
        let ec2 = |prefix: &str| Some(format!("{prefix}-{EC2_ID}"));
        match (ty, attribute) {
            ("aws_s3_bucket", "bucket" | "id") => own("bucket"),
            ("aws_s3_bucket", "arn") => Some(format!("arn:aws:s3:::{}", own("bucket")?)),
            ("aws_sqs_queue", "name") => own("name"),
            ("aws_sqs_queue", "arn") => {
                Some(format!("arn:aws:sqs:{region}:{account}:{}", own("name")?))
            }
            ("aws_sqs_queue", "url" | "id") => Some(format!(
                "https://sqs.{region}.amazonaws.com/{account}/{}",
                own("name")?
            )),
            ("aws_dynamodb_table", "name" | "id") => own("name"),
            ("aws_dynamodb_table", "arn") => Some(format!(
                "arn:aws:dynamodb:{region}:{account}:table/{}",
                own("name")?
            )),
            ("aws_secretsmanager_secret", "arn" | "id") => Some(format!(
                "arn:aws:secretsmanager:{region}:{account}:secret:{}{SECRET_SUFFIX}",
                own("name")?
            )),
            ("aws_kms_key", "arn") => Some(format!("arn:aws:kms:{region}:{account}:key/{KEY_ID}")),
            ("aws_kms_key", "key_id" | "id") => Some(KEY_ID.to_owned()),
            ("aws_cloudwatch_log_group", "name" | "id") => own("name"),
            ("aws_cloudwatch_log_group", "arn") => Some(format!(
                "arn:aws:logs:{region}:{account}:log-group:{}",
                own("name")?
            )),
            ("aws_iam_role", "name" | "id") => own("name"),
            ("aws_iam_role", "arn") => {
                Some(format!("arn:aws:iam::{account}:role/{}", own("name")?))
            }
            ("aws_lambda_function", "function_name" | "id") => own("function_name"),
            ("aws_lambda_function", "arn") => Some(format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                own("function_name")?
            )),
            ("aws_lambda_function_url", "function_url") => {
                Some(format!("https://{URL_ID}.lambda-url.{region}.on.aws/"))
            }
            ("aws_sns_topic", "arn" | "id") => {
                Some(format!("arn:aws:sns:{region}:{account}:{}", own("name")?))
            }
            ("aws_cloudwatch_metric_alarm" | "aws_cloudwatch_composite_alarm", "alarm_name") => {
                own("alarm_name")
            }
            ("aws_vpc", "id") => ec2("vpc"),
            ("aws_subnet", "id") => ec2("subnet"),
            ("aws_security_group", "id") => ec2("sg"),
            ("aws_route_table", "id") => ec2("rtb"),
            ("aws_vpc_endpoint", "id") => ec2("vpce"),
            ("aws_vpc_endpoint", "prefix_list_id") => ec2("pl"),
            _ => None,
        }
    }
}

/// The index of the `}` closing an expression that starts right after `${` (braces inside it nest).
fn closing_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The policy JSON an `aws_iam_policy_document` data source renders from its (resolved) body.
fn policy_json(body: &Value) -> Value {
    let statements: Vec<Value> = body["statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let mut out = Map::new();
            for (from, to) in [
                ("sid", "Sid"),
                ("effect", "Effect"),
                ("actions", "Action"),
                ("resources", "Resource"),
            ] {
                if let Some(value) = s.get(from) {
                    out.insert(to.into(), value.clone());
                }
            }
            if let Some(principals) = s.get("principals").and_then(Value::as_array) {
                let mut principal = Map::new();
                for p in principals {
                    let ty = p["type"].as_str().unwrap_or_default();
                    if ty == "*" {
                        out.insert("Principal".into(), json!("*"));
                    } else {
                        principal.insert(ty.to_owned(), p["identifiers"].clone());
                    }
                }
                if !principal.is_empty() {
                    out.insert("Principal".into(), Value::Object(principal));
                }
            }
            if let Some(conditions) = s.get("condition").and_then(Value::as_array) {
                let mut condition = Map::new();
                for c in conditions {
                    let test = condition
                        .entry(c["test"].as_str().unwrap_or_default())
                        .or_insert_with(|| json!({}));
                    test[c["variable"].as_str().unwrap_or_default()] = c["values"].clone();
                }
                out.insert("Condition".into(), Value::Object(condition));
            }
            Value::Object(out)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module() -> Module {
        let files = BTreeMap::from([(
            "main.tf.json".to_owned(),
            json!({
                "provider": {"aws": {"region": "eu-west-2", "default_tags": {"tags": {"Project": "p"}}}},
                "resource": {"aws_s3_bucket": {"landing": {"bucket": "b-landing"}},
                             "aws_subnet": {"private_a": {}}},
                "data": {"aws_iam_policy_document": {"p": {"statement": [{
                    "sid": "S", "effect": "Deny", "actions": ["s3:*"],
                    "resources": ["${aws_s3_bucket.landing.arn}/home/$${aws:username}"],
                    "principals": [{"type": "*", "identifiers": ["*"]}],
                    "condition": [{"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}],
                }]}}},
            })
            .to_string(),
        )]);
        Module::parse(&files).expect("parses")
    }

    #[test]
    fn references_become_what_aws_sees_and_escapes_stay_literal() {
        let m = module();
        assert_eq!(
            m.resolve("${aws_s3_bucket.landing.arn}/*")
                .expect("resolves"),
            "arn:aws:s3:::b-landing/*"
        );
        assert_eq!(
            m.resolve("${aws_subnet.private_a.id}").expect("resolves"),
            "subnet-0123456789abcdef0"
        );
        assert_eq!(
            m.resolve("$${aws:username} %%{x}").expect("literal"),
            "${aws:username} %{x}"
        );
        assert_eq!(m.default_tags()["Project"], "p");
    }

    #[test]
    fn an_unknown_reference_is_an_error_not_nothing() {
        let m = module();
        assert_eq!(
            m.resolve("${var.lambda_package}"),
            Err(Unresolved::Reference("var.lambda_package".into()))
        );
        assert!(matches!(
            m.resolve("${aws_s3_bucket.landing.arn"),
            Err(Unresolved::Unterminated(_))
        ));
    }

    #[test]
    fn a_policy_data_source_becomes_its_policy() {
        let policy = module()
            .policy("${data.aws_iam_policy_document.p.json}")
            .expect("resolves");
        assert!(
            policy.text.contains("\n  \"Statement\": ["),
            "indented as the provider does"
        );
        assert_eq!(
            policy.measure(crate::aws_rules::Measure::CharactersWithoutWhitespace),
            serde_json::to_string(&policy.json).expect("json").len()
        );
        assert_eq!(
            policy.json,
            json!({"Version": "2012-10-17", "Statement": [{
                "Sid": "S", "Effect": "Deny", "Action": ["s3:*"], "Principal": "*",
                "Resource": ["arn:aws:s3:::b-landing/home/${aws:username}"],
                "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
            }]})
        );
    }
}
