//! The calls a release makes: the `live` alias read and pointed (Lambda GetAlias, UpdateAlias), the published
//! versions listed, and the watched alarms' states read (CloudWatch DescribeAlarms). Errors name the call
//! and what AWS said.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow};
use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use super::decide::{AlarmState, AliasState, Canary, Record};
use crate::aws;

/// A function's alias.
pub struct Live {
    pub lambda: aws_sdk_lambda::Client,
    pub function: String,
    pub alias: String,
}

fn version_number(text: &str, what: &str) -> Result<u32> {
    text.parse()
        .map_err(|_| anyhow!("{what} is {text:?}, not a published version number"))
}

impl Live {
    /// Where the alias points, and its record.
    pub async fn read(&self) -> Result<AliasState> {
        let alias = self
            .lambda
            .get_alias()
            .function_name(&self.function)
            .name(&self.alias)
            .send()
            .await
            .map_err(|e| anyhow!("{}", aws::describe(&e)))
            .with_context(|| {
                format!(
                    "reading alias {} of {}: is the environment deployed (`cargo xtask deploy`)?",
                    self.alias, self.function
                )
            })?;
        let version = version_number(
            alias.function_version().unwrap_or_default(),
            "the alias's version",
        )?;
        let canary = alias
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .and_then(|weights| weights.iter().find(|(_, w)| **w > 0.0))
            .map(|(v, w)| {
                version_number(v, "the canary's version").map(|version| Canary {
                    version,
                    weight: *w,
                })
            })
            .transpose()?;
        let (record, unreadable) = match Record::parse(alias.description().unwrap_or_default()) {
            Ok(record) => (record, None),
            Err(unreadable) => (Record::default(), Some(unreadable)),
        };
        Ok(AliasState {
            version,
            canary,
            record,
            unreadable,
        })
    }

    /// Points the alias at `version`, with a canary or none, and writes the record.
    pub async fn point(&self, version: u32, canary: Option<Canary>, record: &Record) -> Result<()> {
        let weights: HashMap<String, f64> = canary
            .map(|c| (c.version.to_string(), c.weight))
            .into_iter()
            .collect();
        self.lambda
            .update_alias()
            .function_name(&self.function)
            .name(&self.alias)
            .function_version(version.to_string())
            .routing_config(
                AliasRoutingConfiguration::builder()
                    .set_additional_version_weights(Some(weights))
                    .build(),
            )
            .description(record.describe())
            .send()
            .await
            .map_err(|e| anyhow!("{}", aws::describe(&e)))
            .with_context(|| {
                format!(
                    "pointing alias {} of {} at version {version}",
                    self.alias, self.function
                )
            })?;
        Ok(())
    }

    /// Every published version, oldest first (`$LATEST` is not one).
    pub async fn published(&self) -> Result<Vec<u32>> {
        let mut pages = self
            .lambda
            .list_versions_by_function()
            .function_name(&self.function)
            .into_paginator()
            .items()
            .send();
        let mut versions = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| anyhow!("{}", aws::describe(&e)))?;
            if let Some(Ok(v)) = item.version().map(str::parse::<u32>) {
                versions.push(v);
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// A version in words for people: when it was published and its code's hash.
    pub async fn describe(&self, version: u32) -> String {
        let config = self
            .lambda
            .get_function_configuration()
            .function_name(&self.function)
            .qualifier(version.to_string())
            .send()
            .await;
        match config {
            Ok(c) => format!(
                "version {version} (published {}, code sha256 {})",
                c.last_modified().unwrap_or("at an unknown time"),
                c.code_sha256().unwrap_or("unknown")
            ),
            Err(_) => format!("version {version}"),
        }
    }
}

/// The alarms a canary watches.
pub struct Alarms {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub names: Vec<String>,
}

impl Alarms {
    /// Each watched alarm's state; a missing alarm, or a failed call, is `Unreadable` rather than an error, so
    /// the canary decides what it means (it rolls back).
    pub async fn states(&self) -> Vec<(String, AlarmState)> {
        let answer = self
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(self.names.clone()))
            .send()
            .await;
        let found: HashMap<String, AlarmState> = match answer {
            Ok(out) => out
                .metric_alarms()
                .iter()
                .filter_map(|a| {
                    let state = match a.state_value()? {
                        StateValue::Alarm => AlarmState::Alarm,
                        StateValue::Ok => AlarmState::Ok,
                        StateValue::InsufficientData => AlarmState::InsufficientData,
                        other => AlarmState::Unreadable(format!("state {}", other.as_str())),
                    };
                    Some((a.alarm_name()?.to_owned(), state))
                })
                .collect(),
            Err(e) => {
                let why = aws::describe(&e);
                return self
                    .names
                    .iter()
                    .map(|n| (n.clone(), AlarmState::Unreadable(why.clone())))
                    .collect();
            }
        };
        self.names
            .iter()
            .map(|n| {
                let state = found
                    .get(n)
                    .cloned()
                    .unwrap_or_else(|| AlarmState::Unreadable("no such alarm".into()));
                (n.clone(), state)
            })
            .collect()
    }
}
