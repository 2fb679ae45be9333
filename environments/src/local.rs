//! `local`: the dev environment deployed into moto server on this machine, by the same Terraform path.
//!
//! Left out or changed for moto's sake, each with the reason:
//! - the delivery endpoint is the receiver the local runner starts on this machine (`Endpoint::LocalProcess`),
//!   not a Lambda behind a function URL: moto does not run Lambdas, so dev's mock receiver would never answer;
//!   for the same reason there is no NAT gateway or public subnet (nothing leaves the machine);
//! - no TLS-only bucket policies: moto applies their Deny without evaluating the `aws:SecureTransport`
//!   condition, so every request over the emulator's plain HTTP would be refused;
//! - drift that moto makes up is ignored (`MOTO_UNECHOED` in infra-gen/src/render.rs: attributes it does not
//!   echo as written), so a second deploy applies nothing;
//! - no composite alarm (moto has no PutCompositeAlarm): each alarm notifies the topic itself;
//! - no budget: moto cannot read a budget's subscribers back (DescribeSubscribersForNotification), so Terraform
//!   would wait for it forever; and there is no bill to watch;
//! - state is local (no S3 backend) and the provider's endpoints point at `var.aws_endpoint`.

use infra_gen::config::{Endpoint, Sink};
use infra_gen::{Environment, Kind};

pub fn environment() -> Environment {
    let mut env = Environment::new("local", Kind::Local, "eu-west-2");
    env.sink = Sink::Nifi(Endpoint::LocalProcess {
        url: "http://127.0.0.1:8080/contentListener".into(),
    });
    env.external_party.source_cidrs = vec!["127.0.0.0/8".into()];
    env.prevent_destroy = false;
    env.alarms.composite = false;
    env.budget = None;
    // Debug for the aggregator only: the SDK's and HTTP stack's debug output is noise, and no place for secrets.
    env.function.rust_log = "info,app=debug".into();
    // A week of reports is plenty on this machine (and moto forgets them when it stops anyway).
    env.reporter.report_retention_days = 7;
    env
}
