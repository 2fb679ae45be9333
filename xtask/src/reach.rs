//! `cargo xtask doctor <env>`: whether the deployed aggregator reaches its endpoint. It invokes the function
//! with `{"probe": "endpoint"}` (app/src/probe.rs), which resolves the endpoint's host from inside the VPC,
//! connects, completes TLS and asks the healthcheck, and prints what each step saw with, for the first that
//! failed, where to look. The answer holds no credential; neither does anything printed here.

use anyhow::{Context, Result, anyhow, bail};
use app::probe::{PROBE_ENDPOINT, PROBE_KEY, ProbeReport, Step};
use aws_sdk_lambda::primitives::Blob;

use crate::aws;
use crate::target::Target;

/// At most this much of an answer that is not a report is shown.
const SHOWN_BYTES: usize = 600;

pub async fn run(target: &Target, qualifier: Option<&str>) -> Result<()> {
    let env = target.name();
    if target.is_local() {
        bail!(
            "the local environment's function is stored in moto, which never runs it: `cargo xtask local` runs the aggregator on this machine and delivers to the local receiver, which is the local path's check"
        );
    }
    let function = &target.pipeline.aggregator.function_name;
    let lambda = aws_sdk_lambda::Client::new(&aws::sdk(target).await);
    let payload = serde_json::json!({ PROBE_KEY: PROBE_ENDPOINT }).to_string();
    println!(
        "doctor {env}: invoking {function}{} with {payload} ...",
        qualifier.map(|q| format!(":{q}")).unwrap_or_default()
    );
    let response = lambda
        .invoke()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_owned))
        .payload(Blob::new(payload))
        .send()
        .await
        .map_err(aws_sdk_lambda::Error::from)
        .with_context(|| {
            format!(
                "could not invoke {function}: is {env} deployed (`cargo xtask deploy {env}`), and may these credentials lambda:InvokeFunction it?"
            )
        })?;
    let body = response.payload().map(Blob::as_ref).unwrap_or_default();
    let shown = String::from_utf8_lossy(&body[..body.len().min(SHOWN_BYTES)]).into_owned();
    if let Some(error) = response.function_error() {
        bail!(
            "{function} failed the probe ({error}): {shown}\nif it says the payload is not an SQS batch, the deployed aggregator predates the probe: deploy this version (`cargo xtask deploy {env}`)"
        );
    }
    let report: ProbeReport = serde_json::from_slice(body).map_err(|_| {
        anyhow!(
            "{function} answered something that is not a probe report: {shown}\nthe deployed aggregator predates the probe: deploy this version (`cargo xtask deploy {env}`)"
        )
    })?;
    print!("{}", render(&report));
    match report.first_failure() {
        None => Ok(()),
        Some(step) => bail!(
            "{env} cannot deliver to {}: step `{}` failed. {}",
            report.url,
            step.name,
            advice(step, env)
        ),
    }
}

/// The report, a line a step.
pub fn render(report: &ProbeReport) -> String {
    let mut out = format!(
        "probe of {} ({}:{})\n",
        report.url, report.host, report.port
    );
    for step in &report.steps {
        let mark = if step.ok { "ok    " } else { "FAILED" };
        out.push_str(&format!(
            "  {mark} {:<24} {:>6} ms  {}\n",
            step.name, step.millis, step.detail
        ));
    }
    out.push_str(if report.reachable {
        "the endpoint is reachable from the function, over the path deliveries take\n"
    } else {
        "the endpoint is NOT reachable from the function\n"
    });
    out
}

/// Where to look when a step failed (the RUNBOOK's "The route to on-premise" has the commands).
pub fn advice(step: &Step, env: &str) -> String {
    let runbook = format!("see generated/{env}/RUNBOOK.md");
    let name = step.name.split(' ').next().unwrap_or_default();
    match name {
        "secret" => format!(
            "Put the endpoint credentials with `cargo xtask secret {env}`; until then every delivery fails."
        ),
        "dns" => format!(
            "The name does not resolve from the VPC: check that the resolver rule forwards its domain, that the on-premise DNS servers answer for it, and that their firewall lets DNS (UDP and TCP 53) in from the private subnets ({runbook}, \"The route to on-premise\")."
        ),
        "tcp" if step.detail.starts_with("refused") => format!(
            "The address answers but refuses the port: the server is down or listens on another port than the one the model allows ({runbook})."
        ),
        "tcp" => format!(
            "Nothing answered: check the link (the VPN tunnels UP, the Transit Gateway or Direct Connect association), the routes of the private subnets, the routes back on-premise, and the on-premise firewall's opening for the port; the VPC's flow logs show what was refused ({runbook})."
        ),
        "tls" => format!(
            "TLS failed: the server's certificate must chain to the secret's ca_cert_pem (or a public CA) and name the URL's host; with mutual TLS the server must accept the secret's client certificate (`cargo xtask secret {env}`)."
        ),
        "http" => format!(
            "The server answered, but not 2xx: check the URL's path (NiFi's ListenHTTP answers GET <path>/healthcheck) and any proxy in front of it ({runbook})."
        ),
        _ => format!("Fix the endpoint's URL in environments/src/{env}.rs."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, ok: bool, detail: &str) -> Step {
        Step {
            name: name.into(),
            ok,
            millis: 3,
            detail: detail.into(),
        }
    }

    #[test]
    fn a_failed_step_gets_the_advice_for_where_it_failed() {
        let cases = [
            (step("secret", false, "no value"), "cargo xtask secret prod"),
            (step("dns", false, "x did not resolve"), "resolver rule"),
            (
                step("tcp 10.0.0.1:9443", false, "refused: ..."),
                "refuses the port",
            ),
            (
                step("tcp 10.0.0.1:9443", false, "no answer within 5s"),
                "VPN tunnels UP",
            ),
            (step("tls", false, "UnknownIssuer"), "ca_cert_pem"),
            (step("http", false, "answered 404"), "healthcheck"),
        ];
        for (failed, words) in cases {
            let advice = advice(&failed, "prod");
            assert!(advice.contains(words), "{}: {advice}", failed.name);
        }
    }

    #[test]
    fn the_report_shows_every_step_and_the_verdict() {
        let report = ProbeReport {
            url: "https://nifi.onprem.example.internal:9443/contentListener/healthcheck".into(),
            host: "nifi.onprem.example.internal".into(),
            port: 9443,
            steps: vec![
                step("dns", true, "nifi.onprem.example.internal is 10.100.20.5"),
                step("tcp 10.100.20.5:9443", false, "no answer within 5s"),
            ],
            reachable: false,
        };
        let text = render(&report);
        assert!(text.contains("ok     dns"), "{text}");
        assert!(text.contains("FAILED tcp 10.100.20.5:9443"), "{text}");
        assert!(
            text.ends_with("NOT reachable from the function\n"),
            "{text}"
        );
    }
}
