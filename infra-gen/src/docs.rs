//! The documents rendered per environment from `templates/` with handlebars, in strict mode (a missing
//! value is an error, not an empty string) and without HTML escaping (the output is Markdown and JSON), from
//! the facts of a composed [`Pipeline`]. Rendering the Terraform files ([`crate::render`]) calls this module,
//! never the other way round.

use std::collections::BTreeMap;

use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::config::{Endpoint, Kind, Link, Release, Sink, Spend, Vpn, VpnGateway, VpnRouting};
use crate::link::{DH_GROUPS, ENCRYPTION, IKE_VERSIONS, INTEGRITY};
use crate::on_premise::{host_and_port, placeholders};
use crate::pipeline::{ARCHIVE_KEY_LAYOUT, DASHBOARD_FILE, LIVE_ALIAS, METRIC_NAMESPACE, Pipeline};
use crate::retention::{human, human_up};
use crate::tf::HEADER;

/// The templates, compiled in so rendering does not depend on the working directory.
const TEMPLATES: [(&str, &str); 2] = [
    ("RUNBOOK.md", include_str!("../../templates/RUNBOOK.md.hbs")),
    (
        DASHBOARD_FILE,
        include_str!("../../templates/dashboard.json.hbs"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("template {name} does not compile: {message}")]
    Template { name: &'static str, message: String },
    #[error("template {name} does not render: {message}")]
    Render { name: &'static str, message: String },
    #[error("the dashboard template did not render valid JSON: {0}")]
    Dashboard(String),
}

/// A strict, non-escaping registry with every template.
fn registry() -> Result<Handlebars<'static>, DocsError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    for (name, text) in TEMPLATES {
        hb.register_template_string(name, text)
            .map_err(|e| DocsError::Template {
                name,
                message: e.to_string(),
            })?;
    }
    Ok(hb)
}

/// `RUNBOOK.md` and `dashboard.json` for the pipeline.
pub fn render(pipeline: &Pipeline) -> Result<BTreeMap<String, String>, DocsError> {
    let hb = registry()?;
    let data = facts(pipeline);
    let mut out = BTreeMap::new();
    for (name, _) in TEMPLATES {
        let text = hb.render(name, &data).map_err(|e| DocsError::Render {
            name,
            message: e.to_string(),
        })?;
        let text = if name == DASHBOARD_FILE {
            // Re-serialized so the body is valid JSON with sorted keys, whatever the template's layout.
            let body: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| DocsError::Dashboard(e.to_string()))?;
            serde_json::to_string_pretty(&body).map_err(|e| DocsError::Dashboard(e.to_string()))?
                + "\n"
        } else {
            format!("<!-- {HEADER} -->\n{}\n", text.trim_end())
        };
        out.insert(name.to_owned(), text);
    }
    Ok(out)
}

/// The data the documents are rendered from.
fn facts(p: &Pipeline) -> Value {
    let env = p.validated.env();
    let schedule = p.validated.schedule();
    let retention = p.validated.retention();
    let sizing = p.validated.sizing();
    let request_limits = env.sink.endpoint().request_limits();
    let name = |e: &str| e.to_owned();
    let alarms: Vec<Value> = p
        .health
        .iter()
        .map(|a| json!({"name": a.alarm_name, "terraform": a.r().address(), "description": a.description}))
        .chain(std::iter::once(json!({
            "name": p.incoming_anomaly.alarm_name,
            "terraform": p.incoming_anomaly.r().address(),
            "description": p.incoming_anomaly.description,
        })))
        .collect();
    let local = env.kind == Kind::Local;
    // The objective's lines on the latency widget, in the metric's unit (ms).
    let objective: Vec<Value> = crate::watch::latency_watches(env)
        .iter()
        .map(|w| {
            json!({
                "stat": w.percentile.to_string(),
                "label": format!("objective: {} within {} s", w.percentile.percent(), w.limit_seconds),
                "limit_ms": u64::from(w.limit_seconds) * 1000,
            })
        })
        .collect();
    let watched: Vec<String> = p
        .release_alarms()
        .iter()
        .map(|a| format!("`{}`", a.alarm_name))
        .collect();
    let release = match env.release {
        Release::AllAtOnce => "all at once: the alias moves to the new version".to_string(),
        Release::Canary {
            weight_percent,
            bake,
        } => format!(
            "as a canary: {weight_percent}% of invocations go to the new version for {} min, while {} are watched; then 100%, or, as soon as one of them is in ALARM, back to the previous version by itself",
            bake.as_secs().div_ceil(60),
            watched.join(", ")
        ),
    };
    let budget = p.budget.as_ref().map(|budget| {
        let alerts: Vec<String> = budget
            .alerts
            .iter()
            .map(|a| {
                let spend = match a.spend {
                    Spend::Actual => "actual",
                    Spend::Forecasted => "forecasted",
                };
                format!("{}% ({spend})", a.percent)
            })
            .collect();
        json!({"name": budget.budget_name, "usd": budget.monthly_usd, "alerts": alerts.join(", ")})
    });
    let release_facts = json!({
        "live_alias": LIVE_ALIAS,
        "release": release,
        "budget": budget,
    });
    // The limits a file meets on its way, in a second object: one json! of every fact exceeds the macro's
    // recursion limit.
    let limits = json!({
        "landing_noncurrent_expiry_days": env.storage.landing_noncurrent_expiry_days,
        "landing_lifetime": human(retention.landing_lifetime),
        "dead_lettered_within": human_up(retention.longest_wait_before_dead_letter),
        "redrive_window": human(retention.redrive_window),
        "landing_prefix": env.external_party.landing_prefix,
        "external_id": env.external_party.external_id,
        "bundle_max_bytes": sizing.bundle_max_bytes,
        "object_max_bytes": sizing.object_max_bytes,
        "ephemeral_storage_mb": env.function.ephemeral_storage_mb,
        "request_limits": request_limits.why,
        "latency_objective": objective,
        "latency_window_seconds": crate::watch::LATENCY_WINDOW_STEP_SECONDS,
    });
    let reporter = &p.reporter;
    let (hour, minute) = env.reporter.runs_at;
    let report = json!({
        "reports_bucket": reporter.reports.bucket,
        "reports_prefix": crate::pipeline::REPORTS_PREFIX,
        "reporter": reporter.reporter.function_name,
        "reporter_log_group": reporter.reporter_logs.group_name,
        "report_time": format!("{hour:02}:{minute:02}"),
        "report_schedule": reporter.daily_report.schedule_name,
        "report_retention_days": env.reporter.report_retention_days,
        "inventory": reporter.landing_inventory.is_some(),
    });
    let mut facts = json!({
        "env": env.name,
        "kind": format!("{:?}", env.kind),
        "local": local,
        "production": env.kind == Kind::Production,
        "region": env.region,
        "aws": if local { "aws --endpoint-url http://127.0.0.1:5000" } else { "aws" },
        "prevent_destroy": env.prevent_destroy,
        "landing_bucket": p.landing.bucket,
        "archive_bucket": p.archive.bucket,
        "archive_layout": ARCHIVE_KEY_LAYOUT,
        "deep_archive_days": env.storage.archive_deep_archive_after_days,
        "landing_expiry_days": env.storage.landing_expiry_days,
        "queue": p.queue.queue_name,
        "dlq": p.dlq.queue_name,
        "max_receive_count": env.queue.max_receive_count,
        "retention_days": env.queue.retention_seconds / 86_400,
        "function": p.aggregator.function_name,
        "log_group": p.aggregator_logs.group_name,
        "secret": p.credentials.secret_name,
        "rotation_days": env.credentials_rotation_interval.as_secs() / 86_400,
        "idempotency_table": p.idempotency.table_name,
        "breaker_table": p.breaker.table_name,
        "topic": p.alarms.topic_name,
        "alarm_email": env.alarms.email,
        "composite_alarm": p.pipeline_health.as_ref().map(|c| c.alarm_name.clone()),
        "alarms": alarms,
        "dashboard": p.dashboard.dashboard_name,
        "namespace": METRIC_NAMESPACE,
        "redelivery_base": schedule.base_seconds(),
        "redelivery_max": schedule.max_seconds(),
        "outage_days": env.redelivery.outage_to_survive.as_secs() / 86_400,
        "mock_receiver": p.receiver.is_some(),
        "sink": match &env.sink {
            Sink::Nifi(_) => name("nifi"),
            Sink::Minio { .. } => name("minio"),
        },
        "endpoint": match env.sink.endpoint() {
            Endpoint::OnPremise { url, .. } | Endpoint::LocalProcess { url } => url.clone(),
            Endpoint::MockReceiver => name("the mock receiver's function URL (output receiver_url)"),
        },
    });
    for more in [limits, report, release_facts] {
        if let (Some(facts), Some(more)) = (facts.as_object_mut(), more.as_object()) {
            facts.extend(more.clone());
        }
    }
    if let Some(facts) = facts.as_object_mut() {
        facts.insert("on_premise".into(), on_premise(p));
    }
    facts
}

/// The route to the on-premise endpoint as the runbook tells it (what the network team provides, how to
/// check the path), or null when the endpoint is not on-premise.
fn on_premise(p: &Pipeline) -> Value {
    let env = p.validated.env();
    let (
        Some(on_premise),
        Endpoint::OnPremise {
            url, cidrs, port, ..
        },
    ) = (&env.network.on_premise, env.sink.endpoint())
    else {
        return Value::Null;
    };
    let list = |items: &[String]| {
        items
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let transit_gateway = match &on_premise.link {
        Link::TransitGateway { transit_gateway_id }
        | Link::Vpn(Vpn {
            gateway: VpnGateway::TransitGateway { transit_gateway_id },
            ..
        }) => Some(transit_gateway_id.clone()),
        _ => None,
    };
    let vpn = match &on_premise.link {
        Link::Vpn(vpn) => json!({
            "ip": vpn.customer_gateway.ip_address,
            "asn": vpn.customer_gateway.bgp_asn,
            "bgp": vpn.routing == VpnRouting::Bgp,
            "amazon_side_asn": match vpn.gateway {
                VpnGateway::VirtualPrivateGateway { amazon_side_asn } => Some(amazon_side_asn),
                VpnGateway::TransitGateway { .. } => None,
            },
            "logs": p.on_premise.as_ref().and_then(|l| l.tunnel_logs.as_ref()).map(|l| l.group_name.clone()),
            "proposals": format!(
                "{}; {}; {}; Diffie-Hellman groups {}",
                IKE_VERSIONS.join(", "),
                ENCRYPTION.join(", "),
                INTEGRITY.join(", "),
                DH_GROUPS.map(|g| g.to_string()).join(", "),
            ),
        }),
        _ => Value::Null,
    };
    let direct_connect = match &on_premise.link {
        Link::DirectConnect {
            gateway_id,
            amazon_side_asn,
        } => json!({"gateway_id": gateway_id, "amazon_side_asn": amazon_side_asn}),
        _ => Value::Null,
    };
    let link = match &on_premise.link {
        Link::TransitGateway { transit_gateway_id } => format!(
            "the existing Transit Gateway `{transit_gateway_id}`, to which the private subnets are attached"
        ),
        Link::Vpn(vpn) => format!(
            "a site-to-site VPN (two IPsec tunnels, {}) from {} to the on-premise router",
            match vpn.routing {
                VpnRouting::Bgp => "BGP",
                VpnRouting::Static => "static routes",
            },
            match &vpn.gateway {
                VpnGateway::VirtualPrivateGateway { .. } =>
                    "a virtual private gateway of the VPC".to_owned(),
                VpnGateway::TransitGateway { transit_gateway_id } =>
                    format!("the existing Transit Gateway `{transit_gateway_id}`"),
            }
        ),
        Link::DirectConnect { gateway_id, .. } => format!(
            "the existing Direct Connect gateway `{gateway_id}`, associated with a virtual private gateway of the VPC"
        ),
    };
    let subnets: Vec<String> = env
        .network
        .private_subnets
        .iter()
        .map(|s| s.cidr.clone())
        .collect();
    let host = host_and_port(url).map(|(host, _)| host).unwrap_or_default();
    json!({
        "link": link,
        "vpn": vpn,
        "transit_gateway": transit_gateway,
        "direct_connect": direct_connect,
        "cidrs": list(&on_premise.cidrs),
        "endpoint_cidrs": list(cidrs),
        "port": port,
        "host": host,
        "subnets": list(&subnets),
        "vpc_cidr": env.network.vpc_cidr,
        "route_table": format!("{}-private", env.name_prefix),
        "flow_logs": p.flow_logs.group_name,
        "dns": on_premise.dns.as_ref().map(|dns| json!({
            "domain": dns.domain,
            "servers": list(&dns.servers),
        })),
        "placeholders": placeholders(on_premise, url),
    })
}
