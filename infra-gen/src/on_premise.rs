//! The invariants of the VPC's ranges and of the route to an on-premise endpoint: an on-premise endpoint has
//! a link and only it has one; the ranges routed over the link, the security group's egress, the DNS servers
//! and the endpoint's URL agree (its host an address the group lets out to, or a name under the forwarded
//! domain; its port the one allowed); and the link's identifiers and numbers are ones AWS accepts
//! ([`crate::aws_rules`]).

use std::net::Ipv4Addr;

use crate::aws_rules::{self, Broken};
use crate::cidr::Cidr;
use crate::config::{Endpoint, Environment, Link, OnPremise, OnPremiseDns, Violations, VpnGateway};

/// Addresses of the VPC itself (its resolver at .2 is 169.254.169.253, the instance metadata service
/// 169.254.169.254) and of VPN tunnels' inside addresses: never on-premise.
const LINK_LOCAL: &str = "169.254.0.0/16";
const FIELD: &str = "network.on_premise";

/// Checks the VPC's ranges, then the route to the endpoint when it is on-premise.
pub fn check(env: &Environment, v: &mut Violations) {
    let vpc = check_vpc(env, v);
    match (env.sink.endpoint(), &env.network.on_premise) {
        (Endpoint::OnPremise { .. }, None) => v.push(
            FIELD,
            "the endpoint is on-premise but nothing routes the VPC to it: every delivery would time out and the breaker would hold every message; declare the link the network team provides (a VPN, a Transit Gateway or a Direct Connect gateway) and the DNS forwarding, as environments/src/prod.rs does".into(),
        ),
        (Endpoint::OnPremise { url, cidrs, port, .. }, Some(on_premise)) => {
            let route = Route {
                env,
                on_premise,
                vpc,
            };
            let routed = route.routed(v);
            route.egress(cidrs, &routed, v);
            // The domain first: whether the URL's host is under it means something only for a valid one.
            if let Some(dns) = &on_premise.dns {
                route.dns(dns, &routed, v);
            }
            route.url(url, cidrs, *port, v);
            route.link(v);
        }
        (endpoint, Some(_)) => v.push(
            FIELD,
            format!(
                "only an on-premise endpoint is reached over a link, and this environment delivers to {}: remove network.on_premise",
                match endpoint {
                    Endpoint::MockReceiver => "the mock receiver",
                    _ => "a process on this machine",
                }
            ),
        ),
        (_, None) => {}
    }
}

/// The VPC's range, and its private subnets inside it; the range if it parses.
fn check_vpc(env: &Environment, v: &mut Violations) -> Option<Cidr> {
    let vpc = match env.network.vpc_cidr.parse::<Cidr>() {
        Ok(vpc) => vpc,
        Err(error) => {
            v.push("network.vpc_cidr", error.to_string());
            return None;
        }
    };
    for (i, subnet) in env.network.private_subnets.iter().enumerate() {
        match subnet.cidr.parse::<Cidr>() {
            Ok(cidr) if vpc.contains(cidr) => {}
            Ok(cidr) => v.push(
                format!("network.private_subnets[{i}].cidr"),
                format!("{cidr} is not inside the VPC's range {vpc}: choose a range within it"),
            ),
            Err(error) => v.push(
                format!("network.private_subnets[{i}].cidr"),
                error.to_string(),
            ),
        }
    }
    Some(vpc)
}

/// Parses ranges, reporting those that do not parse under `field`.
fn parse_all(texts: &[String], field: &str, v: &mut Violations) -> Vec<Cidr> {
    texts
        .iter()
        .filter_map(|text| match text.parse::<Cidr>() {
            Ok(cidr) => Some(cidr),
            Err(error) => {
                v.push(field, error.to_string());
                None
            }
        })
        .collect()
}

/// Whether `name` is `domain` or under it.
fn covers(domain: &str, name: &str) -> bool {
    let (domain, name) = (domain.to_ascii_lowercase(), name.to_ascii_lowercase());
    name == domain || name.ends_with(&format!(".{domain}"))
}

/// The host and port of an `https://` URL (443 when none is written).
pub fn host_and_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "{url:?} carries credentials in its authority: they belong in the secret (`cargo xtask secret`)"
        ));
    }
    if authority.starts_with('[') {
        return Err(format!(
            "{url:?} names an IPv6 address: the link and the security group route IPv4 only"
        ));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(|p| (host.to_owned(), p))
            .ok_or_else(|| format!("{url:?} has no valid port after its host")),
        None => Ok((authority.to_owned(), 443)),
    }
    .and_then(|(host, port)| {
        if host.is_empty() {
            Err(format!("{url:?} has no host"))
        } else {
            Ok((host, port))
        }
    })
}

/// The ranges RFC 5737 keeps for documentation: no router on the internet has such an address.
const DOCUMENTATION_RANGES: [&str; 3] = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"];
/// The names RFC 2606 keeps for documentation and tests.
const DOCUMENTATION_NAMES: [&str; 4] = ["example", "test", "invalid", "localhost"];

/// The documentation values an environment still carries where the network team's belong: deploying any of them
/// would build a link to nowhere, so `cargo xtask deploy` refuses while this is not empty.
pub fn environment_placeholders(env: &Environment) -> Vec<String> {
    match (&env.network.on_premise, env.sink.endpoint()) {
        (Some(on_premise), Endpoint::OnPremise { url, .. }) => placeholders(on_premise, url),
        _ => Vec::new(),
    }
}

/// The values of the route that are documentation placeholders (RFC 5737 addresses, RFC 2606 names), which
/// no real network can use: each as "what: value". Validation accepts them, so that an environment can be
/// written before the network team answers; the runbook lists them, and deploy refuses them.
pub fn placeholders(on_premise: &OnPremise, url: &str) -> Vec<String> {
    let documentation_name = |name: &str| {
        name.to_ascii_lowercase()
            .split('.')
            .any(|label| DOCUMENTATION_NAMES.contains(&label))
    };
    let mut found = Vec::new();
    if let Link::Vpn(vpn) = &on_premise.link {
        let ip = &vpn.customer_gateway.ip_address;
        let documentation = ip.parse::<Ipv4Addr>().is_ok_and(|ip| {
            DOCUMENTATION_RANGES
                .iter()
                .filter_map(|c| c.parse::<Cidr>().ok())
                .any(|c| c.contains_address(ip))
        });
        if documentation {
            found.push(format!("the customer gateway's address: {ip}"));
        }
    }
    if let Some(dns) = on_premise
        .dns
        .as_ref()
        .filter(|d| documentation_name(&d.domain))
    {
        found.push(format!("the forwarded domain: {}", dns.domain));
    }
    if let Ok((host, _)) = host_and_port(url)
        && documentation_name(&host)
    {
        found.push(format!("the endpoint's host: {host}"));
    }
    found
}

/// Whether an address is one the internet routes to a single host (what a customer gateway needs).
fn is_public(ip: Ipv4Addr) -> bool {
    const NOT_PUBLIC: [&str; 6] = [
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "240.0.0.0/4",
        LINK_LOCAL,
    ];
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_broadcast()
        || NOT_PUBLIC
            .iter()
            .filter_map(|c| c.parse::<Cidr>().ok())
            .any(|c| c.contains_address(ip)))
}

/// The on-premise route of one environment, being checked.
struct Route<'a> {
    env: &'a Environment,
    on_premise: &'a OnPremise,
    vpc: Option<Cidr>,
}

impl Route<'_> {
    /// The ranges routed over the link: canonical, not the default route, clear of the VPC, of link-local
    /// addresses and of each other.
    fn routed(&self, v: &mut Violations) -> Vec<Cidr> {
        let field = "network.on_premise.cidrs";
        let routed = parse_all(&self.on_premise.cidrs, field, v);
        if self.on_premise.cidrs.is_empty() {
            v.push(
                field,
                "list the on-premise ranges to route over the link: the endpoint's and the DNS servers'".into(),
            );
        }
        let link_local: Option<Cidr> = LINK_LOCAL.parse().ok();
        for (i, cidr) in routed.iter().enumerate() {
            if cidr.prefix() == 0 {
                v.push(
                    field,
                    format!("{cidr} is the default route: route only the on-premise ranges the pipeline uses"),
                );
            }
            if let Some(vpc) = self.vpc.filter(|vpc| vpc.overlaps(*cidr)) {
                v.push(
                    field,
                    format!("{cidr} overlaps the VPC's range {vpc}: an on-premise range must not share addresses with the VPC (renumber one of them)"),
                );
            }
            if let Some(local) = link_local.filter(|l| l.overlaps(*cidr)) {
                v.push(
                    field,
                    format!("{cidr} overlaps {local}, which AWS keeps for the VPC's own services and the tunnels' inside addresses: it cannot be on-premise"),
                );
            }
            if let Some(other) = routed[..i].iter().find(|other| other.overlaps(*cidr)) {
                v.push(
                    field,
                    format!(
                        "{cidr} overlaps {other}: list each range once, the widest that is needed"
                    ),
                );
            }
        }
        routed
    }

    /// Every range the security group lets out to lies in a routed range.
    fn egress(&self, egress: &[String], routed: &[Cidr], v: &mut Violations) {
        for cidr in parse_all(egress, "sink", v) {
            if !routed.iter().any(|r| r.contains(cidr)) {
                v.push(
                    "sink",
                    format!("the security group would let the aggregator out to {cidr}, but no route leads there: add a range holding it to network.on_premise.cidrs, or correct the endpoint's range"),
                );
            }
        }
    }

    /// The URL's port is the one allowed, and its host an allowed address or a name under the forwarded domain.
    fn url(&self, url: &str, egress: &[String], port: u16, v: &mut Violations) {
        let (host, url_port) = match host_and_port(url) {
            Ok(found) => found,
            Err(message) => return v.push("sink", message),
        };
        if url_port != port {
            v.push(
                "sink",
                format!("the URL's port {url_port} is not the port the security group allows ({port}): make them the same"),
            );
        }
        if let Ok(address) = host.parse::<Ipv4Addr>() {
            let allowed = egress
                .iter()
                .filter_map(|c| c.parse::<Cidr>().ok())
                .any(|c| c.contains_address(address));
            if !allowed {
                v.push(
                    "sink",
                    format!("the URL's address {address} is outside the endpoint's ranges {egress:?}, the only on-premise addresses the security group allows: correct one of them"),
                );
            }
            return;
        }
        match &self.on_premise.dns {
            None => v.push(
                "network.on_premise.dns",
                format!("the URL's host {host:?} is a name, and nothing in the VPC can resolve on-premise names: forward its domain to the on-premise DNS servers (network.on_premise.dns), or use the address"),
            ),
            Some(dns) if !covers(&dns.domain, &host) => v.push(
                "network.on_premise.dns.domain",
                format!("the URL's host {host:?} is not under the forwarded domain {:?}, so the VPC would resolve it publicly or not at all: forward the domain that holds it", dns.domain),
            ),
            Some(_) => {}
        }
    }

    /// The domain is one Resolver accepts and leaves AWS's names alone; the servers lie in routed ranges.
    fn dns(&self, dns: &OnPremiseDns, routed: &[Cidr], v: &mut Violations) {
        let field = "network.on_premise.dns";
        if let Err(broken) = aws_rules::resolver_domain(&dns.domain) {
            v.push(
                format!("{field}.domain"),
                format!("{:?} breaks {broken}", dns.domain),
            );
        }
        let region = &self.env.region;
        // The function resolves these itself (its SDK's endpoints, the VPC's own names); forwarding them
        // on-premise would cut it off from AWS.
        for aws_name in [
            format!("sqs.{region}.amazonaws.com"),
            format!("ip-10-0-0-1.{region}.compute.internal"),
        ] {
            if covers(&dns.domain, &aws_name) {
                v.push(
                    format!("{field}.domain"),
                    format!("{:?} would also forward {aws_name:?}, a name the function must resolve in AWS: forward only the on-premise domain", dns.domain),
                );
            }
        }
        if dns.servers.is_empty() {
            v.push(
                format!("{field}.servers"),
                "list the on-premise DNS servers (two, for redundancy)".into(),
            );
        }
        for (i, server) in dns.servers.iter().enumerate() {
            let Ok(address) = server.parse::<Ipv4Addr>() else {
                v.push(
                    format!("{field}.servers"),
                    format!("{server:?} is not an IPv4 address"),
                );
                continue;
            };
            if !routed.iter().any(|r| r.contains_address(address)) {
                v.push(
                    format!("{field}.servers"),
                    format!("{address} is not in a routed range {:?}: the resolver endpoint could not reach it; add its range to network.on_premise.cidrs", self.on_premise.cidrs),
                );
            }
            if dns.servers[..i].contains(server) {
                v.push(
                    format!("{field}.servers"),
                    format!("{address} is listed twice"),
                );
            }
        }
    }

    /// The link's identifiers and numbers.
    fn link(&self, v: &mut Violations) {
        let field = "network.on_premise.link";
        let mut report = |result: Result<(), Broken>| {
            if let Err(broken) = result {
                v.push(
                    field,
                    format!("breaks {broken}: ask the network team for the right value"),
                );
            }
        };
        match &self.on_premise.link {
            Link::TransitGateway { transit_gateway_id } => {
                report(aws_rules::transit_gateway_id(transit_gateway_id));
            }
            Link::DirectConnect {
                gateway_id,
                amazon_side_asn,
            } => {
                report(aws_rules::direct_connect_gateway_id(gateway_id));
                report(aws_rules::amazon_side_asn(*amazon_side_asn));
            }
            Link::Vpn(vpn) => {
                let customer = &vpn.customer_gateway;
                report(aws_rules::customer_gateway_asn(
                    customer.bgp_asn,
                    &self.env.region,
                ));
                match &vpn.gateway {
                    VpnGateway::VirtualPrivateGateway { amazon_side_asn } => {
                        report(aws_rules::amazon_side_asn(*amazon_side_asn));
                        if *amazon_side_asn == customer.bgp_asn {
                            v.push(
                                field,
                                format!("the customer gateway's ASN and the virtual private gateway's are both {amazon_side_asn}: BGP between them needs two different ASNs"),
                            );
                        }
                    }
                    VpnGateway::TransitGateway { transit_gateway_id } => {
                        report(aws_rules::transit_gateway_id(transit_gateway_id));
                    }
                }
                match customer.ip_address.parse::<Ipv4Addr>() {
                    Ok(ip) if is_public(ip) => {}
                    Ok(ip) => v.push(
                        field,
                        format!("the customer gateway's address {ip} is not a public address: it is the on-premise router's static internet-facing address"),
                    ),
                    Err(_) => v.push(
                        field,
                        format!("the customer gateway's address {:?} is not an IPv4 address", customer.ip_address),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_port() {
        assert_eq!(
            host_and_port("https://nifi.onprem.example.internal:9443/contentListener"),
            Ok(("nifi.onprem.example.internal".into(), 9443))
        );
        assert_eq!(
            host_and_port("https://10.100.20.5/contentListener"),
            Ok(("10.100.20.5".into(), 443))
        );
        assert_eq!(
            host_and_port("https://minio.example.internal:9000"),
            Ok(("minio.example.internal".into(), 9000))
        );
        for bad in [
            "http://nifi:80/x",
            "https://user:pw@nifi/x",
            "https://[fd00::1]:443/x",
            "https://nifi:0/x",
            "https://:443/x",
        ] {
            assert!(host_and_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_domain_covers_itself_and_its_subdomains_only() {
        assert!(covers(
            "onprem.example.internal",
            "nifi.onprem.example.internal"
        ));
        assert!(covers("onprem.example.internal", "ONPREM.example.internal"));
        assert!(!covers(
            "onprem.example.internal",
            "xonprem.example.internal"
        ));
        assert!(covers("internal", "ip-10-0-0-1.eu-west-2.compute.internal"));
    }

    #[test]
    fn documentation_values_are_listed_as_placeholders_and_real_ones_are_not() {
        use crate::config::{CustomerGateway, Vpn, VpnRouting};
        let route = |ip: &str, domain: &str| OnPremise {
            cidrs: vec!["10.100.0.0/16".into()],
            link: Link::Vpn(Vpn {
                gateway: VpnGateway::VirtualPrivateGateway {
                    amazon_side_asn: 64512,
                },
                customer_gateway: CustomerGateway {
                    ip_address: ip.into(),
                    bgp_asn: 65010,
                },
                routing: VpnRouting::Bgp,
            }),
            dns: Some(OnPremiseDns {
                domain: domain.into(),
                servers: vec!["10.100.0.10".into()],
            }),
        };
        assert_eq!(
            placeholders(
                &route("203.0.113.10", "onprem.example.internal"),
                "https://nifi.onprem.example.internal:9443/x"
            ),
            [
                "the customer gateway's address: 203.0.113.10",
                "the forwarded domain: onprem.example.internal",
                "the endpoint's host: nifi.onprem.example.internal",
            ]
        );
        assert!(
            placeholders(
                &route("81.2.69.160", "corp.bank.internal"),
                "https://nifi.corp.bank.internal/x"
            )
            .is_empty()
        );
    }

    #[test]
    fn public_addresses_are_told_from_the_rest() {
        for public in ["203.0.113.10", "8.8.8.8", "198.51.100.1"] {
            assert!(is_public(public.parse().expect("address")), "{public}");
        }
        for not in [
            "10.1.1.1",
            "192.168.0.1",
            "172.16.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(!is_public(not.parse().expect("address")), "{not}");
        }
    }
}
