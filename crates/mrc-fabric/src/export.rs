//! Export of the static configuration as text, one file at a time (the caller writes them).
//!
//! - [`Format::Iproute2`]: one shell script per switch and NIC with the commands of
//!   docs/fabric-and-srv6.md §10.3–§10.5 (uN = `End flavors next-csid`, static /48 routes, uA =
//!   `End.X … flavors next-csid` where parallel links need it, `End.DT6 table local` decap, first
//!   hop per plane, `sr tunsrc`, the rule shuffle for self-probes), plus `links.tsv`, the cable
//!   list the namespace fabric creates veth pairs from. Each script takes its namespace from `$NS`
//!   (default: [`ns_name`]).
//! - [`Format::Frr`]: one FRR-style `frr.conf` per switch and NIC (static routes, static SIDs).
//!
//! Naming: namespaces `mrc-nic<n>`, `mrc-p<plane>-t0-<i>`, `mrc-p<plane>-t1-<j>`; interfaces
//! `p<plane>` on NICs, `d<q>` (NIC-facing) and `u<u>` (uplinks) on T0s, `d<port>` on T1s. Cable `l`
//! uses `fd01:<l>::/64`; its lower-tier end is `::1`, its upper-tier end `::2`.

use core::fmt::Write as _;
use core::net::Ipv6Addr;

use crate::clos::Clos;
use crate::tables::{Action, StaticTables};
use crate::topology::{LinkId, NodeId, NodeKind};
use crate::usid::{key_addr, nic_addr};

/// Configuration flavour.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// Linux `ip` commands (tested recipe of docs/fabric-and-srv6.md §10).
    Iproute2,
    /// FRR-style `frr.conf` (static routes and static SRv6 SIDs; not tested here).
    Frr,
}

/// One exported file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExportFile {
    /// File name (no directories).
    pub name: String,
    /// Contents.
    pub contents: String,
}

/// The device that anchors a switch's own uN route: one side of a veth pair that stays inside
/// the switch's namespace, so pulling any cable leaves the route in place.
pub const SID_DEV: &str = "sid0";

/// The namespace (and FRR hostname) of a node.
pub fn ns_name(clos: &Clos, node: NodeId) -> String {
    match clos.topology().node(node).kind {
        NodeKind::Nic { index } => format!("mrc-nic{index}"),
        NodeKind::Switch { plane, tier, index } => format!("mrc-p{plane}-t{tier}-{index}"),
    }
}

/// The interface name of a port.
pub fn port_name(clos: &Clos, node: NodeId, port: u32) -> String {
    match clos.topology().node(node).kind {
        NodeKind::Nic { .. } => format!("p{port}"),
        NodeKind::Switch { tier: 0, .. } if port >= clos.dims().t0_down => {
            format!("u{}", port - clos.dims().t0_down)
        }
        NodeKind::Switch { .. } => format!("d{port}"),
    }
}

/// The address of end `end` (0 = lower tier, 1 = upper tier) of a cable: `fd01:<l>::1` / `::2`.
pub fn link_addr(link: LinkId, end: usize) -> Ipv6Addr {
    Ipv6Addr::new(
        0xfd01,
        (link.0 >> 16) as u16,
        link.0 as u16,
        0,
        0,
        0,
        0,
        end as u16 + 1,
    )
}

/// The address of `node`'s end of `link` and of the far end.
fn ends(clos: &Clos, node: NodeId, link: LinkId) -> (Ipv6Addr, Ipv6Addr) {
    let mine = usize::from(clos.topology().link(link).ends[0].node != node);
    (link_addr(link, mine), link_addr(link, 1 - mine))
}

/// Every file of the export: `links.tsv`, then switches, then NICs (lazily, one at a time).
pub fn export<'a>(
    clos: &'a Clos,
    tables: &'a StaticTables,
    format: Format,
) -> impl Iterator<Item = ExportFile> + 'a {
    let topo = clos.topology();
    let nics = topo.nic_count();
    let nodes = topo.nodes().len() as u32;
    let links = (format == Format::Iproute2).then(|| links_tsv(clos));
    let switches = (nics..nodes).map(NodeId);
    let nic_nodes = (0..nics).map(NodeId);
    links.into_iter().chain(
        switches
            .chain(nic_nodes)
            .map(move |node| node_file(clos, tables, node, format)),
    )
}

/// The cable list: one line per link.
pub fn links_tsv(clos: &Clos) -> ExportFile {
    let topo = clos.topology();
    let mut s = String::with_capacity(topo.links().len() * 90);
    s.push_str("# link\tns_a\tdev_a\taddr_a\tns_b\tdev_b\taddr_b\tgbps\tlatency_ns\n");
    for (i, l) in topo.links().iter().enumerate() {
        let id = LinkId(i as u32);
        let [a, b] = l.ends;
        let _ = writeln!(
            s,
            "{i}\t{}\t{}\t{}/64\t{}\t{}\t{}/64\t{}\t{}",
            ns_name(clos, a.node),
            port_name(clos, a.node, a.port),
            link_addr(id, 0),
            ns_name(clos, b.node),
            port_name(clos, b.node, b.port),
            link_addr(id, 1),
            l.gbps,
            l.latency_ns
        );
    }
    ExportFile {
        name: "links.tsv".into(),
        contents: s,
    }
}

fn describe(clos: &Clos, node: NodeId) -> String {
    match clos.topology().node(node).kind {
        NodeKind::Nic { index } => {
            let (a, q) = clos.attachment(index);
            format!(
                "NIC {index} (T0 {a} port {q} in every plane, address {})",
                nic_addr(index)
            )
        }
        NodeKind::Switch { plane, tier, index } => {
            let usid = clos.node_usid(node).map_or(0, |u| u.encode());
            format!("T{tier} {index} of plane {plane} (uSID {usid:04x})")
        }
    }
}

fn node_file(clos: &Clos, tables: &StaticTables, node: NodeId, format: Format) -> ExportFile {
    let ext = if format == Format::Iproute2 {
        "sh"
    } else {
        "conf"
    };
    let name = format!("{}.{ext}", ns_name(clos, node).trim_start_matches("mrc-"));
    let contents = match format {
        Format::Iproute2 => iproute2(clos, tables, node),
        Format::Frr => frr(clos, tables, node),
    };
    ExportFile { name, contents }
}

fn iproute2(clos: &Clos, tables: &StaticTables, node: NodeId) -> String {
    let topo = clos.topology();
    let is_switch = topo.node(node).is_switch();
    let mut s = String::with_capacity(if is_switch { 64 * 1024 } else { 2048 });
    let _ = writeln!(s, "#!/bin/sh");
    let _ = writeln!(
        s,
        "# {}: static SRv6 uSID configuration generated by `mrc plan`",
        describe(clos, node)
    );
    let _ = writeln!(
        s,
        "# (docs/fabric-and-srv6.md §10.3–10.5). Run after the cables of links.tsv exist."
    );
    let _ = writeln!(s, "set -e\nNS=${{NS:-{}}}", ns_name(clos, node));
    if is_switch {
        let _ = writeln!(
            s,
            "ip netns exec \"$NS\" sysctl -qw net.ipv6.conf.all.forwarding=1"
        );
    } else {
        let _ = writeln!(s, "ip -n \"$NS\" addr add {}/128 dev lo", nic_addr(node.0));
    }
    for (port, link) in topo.ports(node).iter().enumerate() {
        if let Some(link) = link {
            let dev = port_name(clos, node, port as u32);
            let _ = writeln!(
                s,
                "ip -n \"$NS\" addr add {}/64 dev {dev} nodad",
                ends(clos, node, *link).0
            );
        }
    }
    let entries = tables.table(node).entries();
    if entries.iter().any(|&(_, action)| action == Action::End) {
        let _ = writeln!(
            s,
            "# anchor for the own uSID's uN route: on a cable it would be flushed when that cable is\n\
             # pulled, and on lo it becomes a reject route; this veth pair never leaves the namespace\n\
             ip -n \"$NS\" link add name {SID_DEV} type veth peer name {SID_DEV}p\n\
             ip -n \"$NS\" link set dev {SID_DEV} up\n\
             ip -n \"$NS\" link set dev {SID_DEV}p up"
        );
    }
    let flavors = "flavors next-csid lblen 32 nflen 16";
    let route = "ip -n \"$NS\" -6 route add";
    for (key, action) in entries {
        let prefix = key_addr(key);
        let via = |port: u32| {
            let link = topo.port_link(node, port);
            let peer = link.map_or(Ipv6Addr::UNSPECIFIED, |l| ends(clos, node, l).1);
            (peer, port_name(clos, node, port))
        };
        let _ = match action {
            Action::End => writeln!(
                s,
                "{route} {prefix}/48 encap seg6local action End {flavors} dev {SID_DEV}"
            ),
            Action::EndX(port) => {
                let (peer, dev) = via(port);
                writeln!(
                    s,
                    "{route} {prefix}/48 encap seg6local action End.X nh6 {peer} {flavors} dev {dev}"
                )
            }
            Action::Forward(port) => {
                let (peer, dev) = via(port);
                writeln!(s, "{route} {prefix}/48 via {peer} dev {dev}")
            }
            Action::Decap => {
                // One decap route per lane: the key's plane names the lane.
                let lane = (key as u16 >> 13).to_string();
                writeln!(
                    s,
                    "{route} {prefix}/48 encap seg6local action End.DT6 table local dev p{lane}"
                )
            }
        };
    }
    if !is_switch {
        let me = nic_addr(node.0);
        let _ = writeln!(s, "ip netns exec \"$NS\" ip sr tunsrc set {me}");
        let _ = writeln!(
            s,
            "# self-probes to our own address: path rules (pref 100) before the local table"
        );
        let _ = writeln!(s, "ip -n \"$NS\" -6 rule add pref 1000 lookup local");
        let _ = writeln!(s, "ip -n \"$NS\" -6 rule del pref 0");
        let _ = writeln!(s, "# T0 loop per lane (§8): fwmark = table = 4000 + plane");
        for p in 0..clos.dims().planes {
            if let Ok((da, _)) = clos.probe_t0(node.0, p) {
                let t = 4000 + p;
                let _ = writeln!(s, "ip -n \"$NS\" -6 rule add pref 100 fwmark {t} table {t}");
                let _ = writeln!(
                    s,
                    "{route} {me}/128 encap seg6 mode encap.red segs {da} dev p{p} table {t}"
                );
            }
        }
        let _ = writeln!(
            s,
            "# per-EV path tables (fwmark = table = 1000 + EV, rule pref 100, one /128 per"
        );
        let _ = writeln!(
            s,
            "# destination with `encap seg6 mode encap.red segs <da(ev)>`) are installed at QP start."
        );
    }
    s
}

fn frr(clos: &Clos, tables: &StaticTables, node: NodeId) -> String {
    let topo = clos.topology();
    let mut s = String::with_capacity(32 * 1024);
    let _ = writeln!(
        s,
        "! {}: static SRv6 uSID configuration generated by `mrc plan` (FRR style)",
        describe(clos, node)
    );
    let _ = writeln!(
        s,
        "frr defaults datacenter\nhostname {}\nno ipv6 forwarding",
        ns_name(clos, node)
    );
    if topo.node(node).is_switch() {
        s = s.replace("no ipv6 forwarding", "ipv6 forwarding");
    } else {
        let _ = writeln!(
            s,
            "interface lo\n ipv6 address {}/128\nexit",
            nic_addr(node.0)
        );
    }
    for (port, link) in topo.ports(node).iter().enumerate() {
        if let Some(link) = link {
            let _ = writeln!(
                s,
                "interface {}\n ipv6 address {}/64\nexit",
                port_name(clos, node, port as u32),
                ends(clos, node, *link).0
            );
        }
    }
    let entries = tables.table(node).entries();
    for (key, action) in &entries {
        if let Action::Forward(port) = action {
            let peer = topo
                .port_link(node, *port)
                .map_or(Ipv6Addr::UNSPECIFIED, |l| ends(clos, node, l).1);
            let _ = writeln!(
                s,
                "ipv6 route {}/48 {peer} {}",
                key_addr(*key),
                port_name(clos, node, *port)
            );
        }
    }
    let _ = writeln!(s, "segment-routing\n srv6\n  locators\n   locator MAIN");
    let _ = writeln!(
        s,
        "    prefix fc00::/32 block-len 32 node-len 16 func-bits 0\n    behavior usid\n   exit\n  exit"
    );
    let _ = writeln!(s, "  static-sids");
    for (key, action) in &entries {
        let sid = key_addr(*key);
        let _ = match action {
            Action::End => writeln!(s, "   sid {sid}/48 locator MAIN behavior uN"),
            Action::EndX(port) => {
                let peer = topo
                    .port_link(node, *port)
                    .map_or(Ipv6Addr::UNSPECIFIED, |l| ends(clos, node, l).1);
                let dev = port_name(clos, node, *port);
                writeln!(
                    s,
                    "   sid {sid}/48 locator MAIN behavior uA interface {dev} nexthop {peer}"
                )
            }
            Action::Decap => writeln!(s, "   sid {sid}/48 locator MAIN behavior uDT6 vrf default"),
            Action::Forward(_) => Ok(()),
        };
    }
    let _ = writeln!(s, "  exit\n exit\nexit");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clos::ClosParams;

    #[test]
    fn iproute2_matches_the_reference_recipe() {
        let clos = Clos::new(ClosParams::new(1_024, 2, 200, 6_400)).unwrap(); // radix 64: 32 T0, 16 T1
        let tables = StaticTables::new(&clos);
        let files: Vec<ExportFile> = export(&clos, &tables, Format::Iproute2).collect();
        let d = clos.dims();
        assert_eq!(files.len() as u64, 1 + d.switches() + u64::from(d.nics));
        assert_eq!(files[0].name, "links.tsv");
        assert_eq!(
            files[0].contents.lines().count() as u64,
            1 + d.nic_links() + d.switch_links()
        );
        let t0 = files.iter().find(|f| f.name == "p0-t0-1.sh").unwrap();
        let c = &t0.contents;
        assert!(c.contains("route add fc00:0:801::/48 encap seg6local action End flavors next-csid lblen 32 nflen 16 dev sid0"), "{c}");
        assert!(c.contains("route add fc00:0:1005::/48 via fd01:0:"), "{c}");
        assert!(c.contains(" dev u5\n"));
        assert!(c.contains("route add fc00:0:1807::/48 via fd01:0:"));
        assert_eq!(
            c.lines().filter(|l| l.contains("route add")).count(),
            tables.table(clos.t0(0, 1)).len()
        );
        let nic = files.iter().find(|f| f.name == "nic40.sh").unwrap();
        let c = &nic.contents;
        assert!(
            c.contains(
                "route add fc00:0:1808::/48 encap seg6local action End.DT6 table local dev p0"
            ),
            "{c}"
        );
        assert!(c.contains(
            "route add fc00:0:3808::/48 encap seg6local action End.DT6 table local dev p1"
        ));
        assert!(
            c.contains("route add fc00:0:801::/48 via fd01::51:2 dev p0")
                || c.contains("fc00:0:801::/48 via")
        );
        assert!(c.contains("sr tunsrc set fd00::28"));
        assert!(c.contains("encap seg6 mode encap.red segs fc00:0:801:1808:: dev p0 table 4000"));
        let frr: Vec<ExportFile> = export(&clos, &tables, Format::Frr).collect();
        assert!(
            frr[0]
                .contents
                .contains("sid fc00:0:800::/48 locator MAIN behavior uN")
        );
    }

    #[test]
    fn partial_fabric_exports_ua() {
        let clos = Clos::new(ClosParams::new(48, 2, 200, 1_600)).unwrap(); // radix 16: 6 T0, 4 T1, 2 parallel
        assert!(clos.dims().parallel > 1);
        let tables = StaticTables::new(&clos);
        let t1 = node_file(&clos, &tables, clos.t1(0, 0), Format::Iproute2);
        assert!(
            t1.contents.contains("action End.X nh6 fd01:"),
            "{}",
            t1.contents
        );
    }
}
