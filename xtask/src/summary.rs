//! The summary of a saved plan, read from `terraform show -json`: how many resources are added, changed,
//! replaced and destroyed, listed one per line, with the changes that deserve a second look — anything
//! destroyed or replaced, anything touching IAM — marked in words and, on a terminal, in red. The same
//! summary renders as Markdown for the pull-request comment CI posts.

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::ui;

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
}

impl Change {
    /// IAM decides who may do what: a change there is reviewed even when it is an addition.
    pub fn touches_iam(&self) -> bool {
        let t = self.kind.as_str();
        t.starts_with("aws_iam_")
            || t.ends_with("_policy")
            || t == "aws_lambda_permission"
            || t == "aws_kms_grant"
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
    change: ChangeJson,
}

#[derive(Deserialize)]
struct ChangeJson {
    actions: Vec<String>,
}

impl Summary {
    pub fn parse(json: &str) -> Result<Summary> {
        let plan: PlanJson = serde_json::from_str(json).context("not a Terraform JSON plan")?;
        let changes = plan
            .resource_changes
            .into_iter()
            .filter_map(|rc| {
                let actions: Vec<&str> = rc.change.actions.iter().map(String::as_str).collect();
                let action = match actions.as_slice() {
                    ["create"] => Action::Create,
                    ["update"] => Action::Update,
                    ["delete"] => Action::Delete,
                    ["delete", "create"] | ["create", "delete"] => Action::Replace,
                    _ => return None, // no-op, read
                };
                Some(Change {
                    action,
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
        }
        text
    }

    /// For a pull-request comment.
    pub fn render_markdown(&self, env: &str) -> String {
        let mut md = format!(
            "### `cargo xtask plan {env}`\n\n**{}**\n",
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
      {"address":"aws_iam_role_policy.aggregator_role","type":"aws_iam_role_policy","change":{"actions":["update"]}},
      {"address":"aws_lambda_function.aggregator","type":"aws_lambda_function","change":{"actions":["delete","create"]}},
      {"address":"aws_sqs_queue.dlq","type":"aws_sqs_queue","change":{"actions":["delete"]}},
      {"address":"data.aws_caller_identity.current","type":"aws_caller_identity","change":{"actions":["read"]}},
      {"address":"aws_kms_key.key","type":"aws_kms_key","change":{"actions":["no-op"]}}
    ]}"#;

    #[test]
    fn counts_like_terraform() {
        let s = Summary::parse(PLAN).expect("parses");
        assert_eq!(s.changes.len(), 4);
        assert_eq!(s.counts(), (2, 1, 2));
        assert_eq!(
            s.headline("dev"),
            "Plan for dev: 2 to add, 1 to change, 2 to destroy (1 replaced); 1 IAM changes."
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
    fn an_empty_plan_has_no_changes() {
        let s = Summary::parse(r#"{"format_version":"1.2"}"#).expect("parses");
        assert!(s.is_empty());
        assert_eq!(s.headline("local"), "Plan for local: no changes.");
    }
}
