//! The summary of a saved plan, read from `terraform show -json`: how many resources are added, changed,
//! replaced and destroyed, listed one per line, with the changes that deserve a second look — anything
//! destroyed or replaced, anything touching IAM or a policy — marked in words and, on a terminal, in red, each
//! with what to review ([`crate::review`]: why it is replaced, what a policy grants and revokes). The same
//! summary renders as Markdown for the pull-request comment CI posts.

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::review::{self, Review};
use crate::ui;

/// Statements listed per change at most; a comment has a size limit and a reader has patience.
const STATEMENTS_SHOWN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One resource that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    pub address: String,
    pub kind: String,
    pub review: Review,
}

impl Change {
    /// IAM decides who may do what: a change there is reviewed even when it is an addition, and so is any
    /// change of a policy document (a key's, a bucket's) whatever resource holds it.
    pub fn touches_iam(&self) -> bool {
        let t = self.kind.as_str();
        t.starts_with("aws_iam_")
            || t.ends_with("_policy")
            || t == "aws_lambda_permission"
            || t == "aws_kms_grant"
            || !self.review.policy.is_empty()
    }

    /// What to read about this change, one line each: why it is replaced, what its policy grants and revokes
    /// (the statement, which Markdown shows as code).
    fn details(&self) -> Vec<(String, Option<String>)> {
        let mut lines = Vec::new();
        if self.action == Action::Replace && !self.review.replaced_because.is_empty() {
            lines.push((
                format!(
                    "replaced because {} cannot change in place",
                    self.review.replaced_because.join(", ")
                ),
                None,
            ));
        }
        let policy = &self.review.policy;
        for (verb, statements) in [("grants", &policy.granted), ("revokes", &policy.revoked)] {
            for statement in statements.iter().take(STATEMENTS_SHOWN) {
                lines.push((format!("{verb}:"), Some(statement.clone())));
            }
            if statements.len() > STATEMENTS_SHOWN {
                lines.push((
                    format!(
                        "{verb} {} more statements (see the full plan)",
                        statements.len() - STATEMENTS_SHOWN
                    ),
                    None,
                ));
            }
        }
        for attribute in &policy.known_after_apply {
            lines.push((
                format!(
                    "its {attribute} is known only after apply (it names resources not created yet): read it in the configuration"
                ),
                None,
            ));
        }
        lines
    }

    pub fn destroys(&self) -> bool {
        matches!(self.action, Action::Delete | Action::Replace)
    }

    fn warning(&self) -> Option<&'static str> {
        match (self.destroys(), self.touches_iam()) {
            (true, true) => Some("DESTROY, IAM"),
            (true, false) => Some("DESTROY"),
            (false, true) => Some("IAM"),
            (false, false) => None,
        }
    }
}

/// What a saved plan does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub changes: Vec<Change>,
}

#[derive(Deserialize)]
struct PlanJson {
    #[serde(default)]
    resource_changes: Vec<ResourceChange>,
}

#[derive(Deserialize)]
struct ResourceChange {
    address: String,
    #[serde(rename = "type")]
    kind: String,
    change: serde_json::Value,
}

impl Summary {
    pub fn parse(json: &str) -> Result<Summary> {
        let plan: PlanJson = serde_json::from_str(json).context("not a Terraform JSON plan")?;
        let changes = plan
            .resource_changes
            .into_iter()
            .filter_map(|rc| {
                let actions: Vec<&str> = rc.change["actions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
                    .unwrap_or_default();
                let action = match actions.as_slice() {
                    ["create"] => Action::Create,
                    ["update"] => Action::Update,
                    ["delete"] => Action::Delete,
                    ["delete", "create"] | ["create", "delete"] => Action::Replace,
                    _ => return None, // no-op, read
                };
                Some(Change {
                    action,
                    review: review::of(&rc.change),
                    address: rc.address,
                    kind: rc.kind,
                })
            })
            .collect();
        Ok(Summary { changes })
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Terraform's own counting: a replacement is one add and one destroy.
    pub fn counts(&self) -> (usize, usize, usize) {
        let replaced = self.count(Action::Replace);
        (
            self.count(Action::Create) + replaced,
            self.count(Action::Update),
            self.count(Action::Delete) + replaced,
        )
    }

    pub fn headline(&self, env: &str) -> String {
        if self.is_empty() {
            return format!("Plan for {env}: no changes.");
        }
        let (add, change, destroy) = self.counts();
        let replaced = self.count(Action::Replace);
        let iam = self.changes.iter().filter(|c| c.touches_iam()).count();
        let mut line =
            format!("Plan for {env}: {add} to add, {change} to change, {destroy} to destroy");
        if replaced > 0 {
            line.push_str(&format!(" ({replaced} replaced)"));
        }
        if iam > 0 {
            line.push_str(&format!("; {iam} IAM changes"));
        }
        line.push('.');
        line
    }

    /// For the terminal: the headline and one line per change, destroys and IAM in red.
    pub fn render_text(&self, env: &str) -> String {
        let mut text = ui::bold(&self.headline(env));
        text.push('\n');
        for c in &self.changes {
            let line = format!("  {:>3} {}", c.action.symbol(), c.address);
            match c.warning() {
                Some(w) => text.push_str(&ui::red(&format!("{line}   [{w}]"))),
                None => text.push_str(&line),
            }
            text.push('\n');
            if c.warning().is_some() {
                for (words, statement) in c.details() {
                    match statement {
                        Some(s) => text.push_str(&format!("        {words} {s}\n")),
                        None => text.push_str(&format!("        {words}\n")),
                    }
                }
            }
        }
        text
    }

    /// The first line of the pull-request comment, by which CI finds its own comment for `env` to update.
    pub fn marker(env: &str) -> String {
        format!("<!-- cargo xtask plan {env} -->")
    }

    /// For a pull-request comment.
    pub fn render_markdown(&self, env: &str) -> String {
        let mut md = format!(
            "{}\n### `cargo xtask plan {env}`\n\n**{}**\n",
            Summary::marker(env),
            self.headline(env)
        );
        let risky: Vec<&Change> = self
            .changes
            .iter()
            .filter(|c| c.warning().is_some())
            .collect();
        if !risky.is_empty() {
            md.push_str("\n> [!WARNING]\n> Review these: destroyed, replaced or IAM changes.\n");
            for c in &risky {
                md.push_str(&format!(
                    "> - `{}` {} ({})\n",
                    c.action.symbol(),
                    c.address,
                    c.warning().unwrap_or_default()
                ));
                for (words, statement) in c.details() {
                    match statement {
                        // A backtick in a policy would end the code span; no statement needs one.
                        Some(s) => {
                            md.push_str(&format!(">   - {words} `{}`\n", s.replace('`', "'")))
                        }
                        None => md.push_str(&format!(">   - {words}\n")),
                    }
                }
            }
        }
        if !self.is_empty() {
            md.push_str("\n<details><summary>All changes</summary>\n\n```diff\n");
            for c in &self.changes {
                let sign = match c.action {
                    Action::Create => "+",
                    Action::Delete | Action::Replace => "-",
                    Action::Update => "!",
                };
                md.push_str(&format!("{sign} {} {}\n", c.action.symbol(), c.address));
            }
            md.push_str("```\n\n</details>\n");
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"{"resource_changes":[
      {"address":"aws_s3_bucket.archive","type":"aws_s3_bucket","change":{"actions":["create"]}},
      {"address":"aws_iam_role_policy.aggregator_role","type":"aws_iam_role_policy","change":{"actions":["update"],
        "before":{"policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::landing/*\"}]}"},
        "after":{"policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:DeleteObject\"],\"Resource\":\"arn:aws:s3:::landing/*\"}]}"}}},
      {"address":"aws_kms_key.key","type":"aws_kms_key","change":{"actions":["update"],
        "before":{"policy":"{\"Statement\":[]}"},
        "after":{"policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"*\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"}}},
      {"address":"aws_lambda_function.aggregator","type":"aws_lambda_function","change":{"actions":["delete","create"],"replace_paths":[["architectures"]]}},
      {"address":"aws_sqs_queue.dlq","type":"aws_sqs_queue","change":{"actions":["delete"]}},
      {"address":"data.aws_caller_identity.current","type":"aws_caller_identity","change":{"actions":["read"]}},
      {"address":"aws_sqs_queue.queue","type":"aws_sqs_queue","change":{"actions":["no-op"]}}
    ]}"#;

    #[test]
    fn counts_like_terraform() {
        let s = Summary::parse(PLAN).expect("parses");
        assert_eq!(s.changes.len(), 5);
        assert_eq!(s.counts(), (2, 2, 2));
        assert_eq!(
            s.headline("dev"),
            "Plan for dev: 2 to add, 2 to change, 2 to destroy (1 replaced); 2 IAM changes."
        );
    }

    #[test]
    fn marks_destroys_and_iam() {
        let s = Summary::parse(PLAN).expect("parses");
        let text = s.render_text("dev");
        assert!(
            text.contains("-/+ aws_lambda_function.aggregator   [DESTROY]"),
            "{text}"
        );
        assert!(
            text.contains("~ aws_iam_role_policy.aggregator_role   [IAM]"),
            "{text}"
        );
        assert!(text.contains("+ aws_s3_bucket.archive\n"), "{text}");
        let md = s.render_markdown("dev");
        assert!(md.contains("aws_sqs_queue.dlq (DESTROY)"), "{md}");
    }

    #[test]
    fn the_comment_says_what_to_review_in_each_risky_change() {
        let s = Summary::parse(PLAN).expect("parses");
        let md = s.render_markdown("prod");
        assert!(md.starts_with("<!-- cargo xtask plan prod -->\n"), "{md}");
        for expected in [
            "> - `-/+` aws_lambda_function.aggregator (DESTROY)\n>   - replaced because architectures cannot change in place\n",
            "> - `~` aws_iam_role_policy.aggregator_role (IAM)\n>   - grants: `Allow s3:DeleteObject, s3:GetObject on arn:aws:s3:::landing/*`\n>   - revokes: `Allow s3:GetObject on arn:aws:s3:::landing/*`\n",
            // A key policy is a policy too, though its resource type is not IAM's.
            "> - `~` aws_kms_key.key (IAM)\n>   - grants: `Allow for AWS * kms:* on *`\n",
        ] {
            assert!(md.contains(expected), "{expected:?} missing from:\n{md}");
        }
        let text = s.render_text("prod");
        assert!(
            text.contains(
                "        grants: Allow s3:DeleteObject, s3:GetObject on arn:aws:s3:::landing/*"
            ),
            "{text}"
        );
        // Additions that grant nothing are not flagged.
        assert!(!md.contains("aws_s3_bucket.archive ("), "{md}");
    }

    #[test]
    fn an_empty_plan_has_no_changes() {
        let s = Summary::parse(r#"{"format_version":"1.2"}"#).expect("parses");
        assert!(s.is_empty());
        assert_eq!(s.headline("local"), "Plan for local: no changes.");
    }
}
