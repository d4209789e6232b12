//! The multi-plane two-tier Clos (docs/fabric-and-srv6.md §1–§2) and its SRv6 uSID addressing:
//! EV ↔ path ↔ outer destination (§7.4–§7.5), self-probes (§8), failure localisation.
//!
//! Layout. NIC `n` sits on T0 `a = n / t0_down`, port `q = n % t0_down`, in every plane; its port
//! `p` is the lane to plane `p`. T0 ports `0..t0_down` face NICs, ports `t0_down + u` are uplinks.
//! Uplink `u` of every T0 goes to T1 `u % t1` (parallel index `k = u / t1`), arriving on T1 port
//! `k·t0 + i`. At full size `t1 = t0_up` and `k = 0`: uplink `j` is T1 `j`, T1 port `i` is T0 `i`.
//!
//! Below full size a T0–T1 pair has `parallel > 1` links that node uSIDs cannot tell apart. As
//! the reference suggests (§2), such fabrics add adjacency SIDs (uA = End.X with NEXT-C-SID): the
//! outer DA becomes `T0(a) uA(uplink) T1(j) uA(T1 port) T0(b) NIC(q)` (6 uSIDs). Full-size
//! fabrics use exactly the 4-uSID form of §7.4.

use core::net::Ipv6Addr;

use mrc_wire::usid::Carrier;

use crate::error::{Param, ParamError};
use crate::rng::SplitMix64;
use crate::topology::{LinkId, NodeId, NodeKind, PortRef, Topology};
use crate::usid::{self, BLOCK, Usid};

/// Parameters of a multi-plane two-tier Clos. `Default` is the paper's fabric.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct ClosParams {
    /// Number of NICs.
    pub nics: u32,
    /// Planes = lanes per NIC.
    pub planes: u32,
    /// NIC speed in Gb/s (split evenly over the lanes).
    pub nic_gbps: u32,
    /// Total switch capacity in Gb/s; radix = switch_gbps / lane speed.
    pub switch_gbps: u32,
    /// T0 uplink ports; `None` = radix / 2 (no oversubscription). Fewer uplinks oversubscribe.
    pub t0_uplinks: Option<u32>,
    /// One-way latency of a NIC–T0 cable in ns.
    pub nic_link_latency_ns: u32,
    /// One-way latency of a T0–T1 cable in ns.
    pub switch_link_latency_ns: u32,
}

impl Default for ClosParams {
    fn default() -> Self {
        Self {
            nics: 131_072,
            planes: 8,
            nic_gbps: 800,
            switch_gbps: 51_200,
            t0_uplinks: None,
            nic_link_latency_ns: 500,
            switch_link_latency_ns: 500,
        }
    }
}

impl ClosParams {
    /// The paper's fabric with another NIC count, plane count, NIC and switch speed.
    pub fn new(nics: u32, planes: u32, nic_gbps: u32, switch_gbps: u32) -> Self {
        Self {
            nics,
            planes,
            nic_gbps,
            switch_gbps,
            ..Self::default()
        }
    }

    /// Sets the number of T0 uplinks (oversubscription = (radix − uplinks) : uplinks).
    pub fn with_t0_uplinks(mut self, uplinks: u32) -> Self {
        self.t0_uplinks = Some(uplinks);
        self
    }

    /// Sets the cable latencies.
    pub fn with_latency_ns(mut self, nic_link: u32, switch_link: u32) -> Self {
        self.nic_link_latency_ns = nic_link;
        self.switch_link_latency_ns = switch_link;
        self
    }

    /// Validates the request and derives the dimensions (no uSID limits checked).
    pub fn dims(&self) -> Result<ClosDims, ParamError> {
        for (v, p) in [
            (self.nics, Param::Nics),
            (self.planes, Param::Planes),
            (self.nic_gbps, Param::NicGbps),
            (self.switch_gbps, Param::SwitchGbps),
        ] {
            if v == 0 {
                return Err(ParamError::Zero(p));
            }
        }
        if !self.nic_gbps.is_multiple_of(self.planes) {
            return Err(ParamError::PlanesDoNotDivideNic {
                planes: self.planes,
                nic_gbps: self.nic_gbps,
            });
        }
        let lane_gbps = self.nic_gbps / self.planes;
        if !self.switch_gbps.is_multiple_of(lane_gbps) {
            return Err(ParamError::LaneDoesNotDivideSwitch {
                switch_gbps: self.switch_gbps,
                lane_gbps,
            });
        }
        let radix = self.switch_gbps / lane_gbps;
        if radix < 2 || !radix.is_multiple_of(2) {
            return Err(ParamError::RadixNotEven { radix });
        }
        let t0_up = self.t0_uplinks.unwrap_or(radix / 2);
        if t0_up == 0 {
            return Err(ParamError::Zero(Param::T0Uplinks));
        }
        if t0_up >= radix {
            return Err(ParamError::BadUplinks {
                t0_uplinks: t0_up,
                max: radix - 1,
            });
        }
        let t0_down = radix - t0_up;
        let max = u64::from(radix) * u64::from(t0_down);
        if u64::from(self.nics) > max {
            return Err(ParamError::TooManyNics {
                nics: self.nics,
                max,
                radix,
                t0_down,
            });
        }
        let t0 = self.nics.div_ceil(t0_down);
        // Fewest T1s that can terminate every uplink, rounded up to a divisor of the uplink count
        // so that every T0–T1 pair has the same number of parallel links.
        let need = (u64::from(t0) * u64::from(t0_up)).div_ceil(u64::from(radix)) as u32;
        let t1 = (need.max(1)..=t0_up)
            .find(|d| t0_up.is_multiple_of(*d))
            .unwrap_or(t0_up);
        Ok(ClosDims {
            nics: self.nics,
            planes: self.planes,
            nic_gbps: self.nic_gbps,
            lane_gbps,
            radix,
            t0_down,
            t0_up,
            t0,
            t1,
            parallel: t0_up / t1,
        })
    }
}

/// Derived dimensions of a multi-plane Clos (per plane unless said otherwise).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct ClosDims {
    /// NICs.
    pub nics: u32,
    /// Planes.
    pub planes: u32,
    /// NIC speed, Gb/s.
    pub nic_gbps: u32,
    /// Lane (and switch port) speed, Gb/s.
    pub lane_gbps: u32,
    /// Switch radix at lane speed.
    pub radix: u32,
    /// NIC-facing ports per T0.
    pub t0_down: u32,
    /// Uplinks per T0.
    pub t0_up: u32,
    /// T0 switches per plane.
    pub t0: u32,
    /// T1 switches per plane.
    pub t1: u32,
    /// Parallel links per T0–T1 pair (1 at full size).
    pub parallel: u32,
}

impl ClosDims {
    /// Switches in all planes.
    pub fn switches(&self) -> u64 {
        u64::from(self.planes) * u64::from(self.t0 + self.t1)
    }
    /// T0–T1 cables in all planes.
    pub fn switch_links(&self) -> u64 {
        u64::from(self.planes) * u64::from(self.t0) * u64::from(self.t0_up)
    }
    /// NIC–T0 cables (lanes) in all planes.
    pub fn nic_links(&self) -> u64 {
        u64::from(self.planes) * u64::from(self.nics)
    }
    /// Distinct paths between two NICs under different T0s (planes × uplinks).
    pub fn paths_per_pair(&self) -> u64 {
        u64::from(self.planes) * u64::from(self.t0_up)
    }
    /// /48 entries of a fully populated T0's table: own uSID, one per T1, one per NIC port (+ one uA per uplink
    /// when T0–T1 pairs have parallel links).
    pub fn t0_table_entries(&self) -> u64 {
        let ua = if self.parallel > 1 { self.t0_up } else { 0 };
        1 + u64::from(self.t1) + u64::from(self.t0_down) + u64::from(ua)
    }
    /// /48 entries of a T1 table: own uSID, one per T0 (+ one uA per downlink when parallel).
    pub fn t1_table_entries(&self) -> u64 {
        let ua = if self.parallel > 1 {
            self.t0 * self.parallel
        } else {
            0
        };
        1 + u64::from(self.t0) + u64::from(ua)
    }
    /// EV bits used for the uplink number: 8 (as in §7.5) or more for larger radices.
    pub fn uplink_bits(&self) -> u32 {
        (u32::BITS - (self.t0_up - 1).leading_zeros()).max(8)
    }
}

/// An entropy value in SRv6 mode: `plane << uplink_bits | uplink` (§7.5; `uplink_bits` = 8 for
/// radix ≤ 512, so bits 10..8 = plane, bits 7..0 = T1 index = source T0 uplink).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Ev(pub u32);

/// Routing errors: EVs, NICs or addresses that do not belong to the fabric.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The EV names a plane or uplink the fabric does not have.
    #[error("EV {0:#x} names no path of this fabric")]
    BadEv(u32),
    /// No such NIC.
    #[error("NIC {0} does not exist")]
    NoSuchNic(u32),
    /// The address is not a path of this fabric.
    #[error("{0} is not an SRv6 path of this fabric")]
    BadDa(Ipv6Addr),
    /// The plane does not exist.
    #[error("plane {0} does not exist")]
    NoSuchPlane(u32),
}

/// Role of a link in the Clos.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinkRole {
    /// Lane `plane` of NIC `nic`.
    NicLane {
        /// NIC.
        nic: u32,
        /// Plane.
        plane: u8,
    },
    /// Uplink `uplink` of T0 `t0` in `plane`, to T1 `t1`. Carries EV `(plane, uplink)` up from
    /// sources under `t0` and down towards destinations under `t0`.
    T0T1 {
        /// Plane.
        plane: u8,
        /// T0 index.
        t0: u32,
        /// Uplink number on the T0.
        uplink: u32,
        /// T1 index.
        t1: u32,
    },
}

/// A path through the fabric: links and switches in order (no heap allocation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Path {
    plane: u8,
    links: [LinkId; 4],
    n_links: u8,
    switches: [NodeId; 3],
    n_switches: u8,
}

impl Path {
    /// The plane the path lies in.
    pub fn plane(&self) -> u8 {
        self.plane
    }
    /// Links in order (source lane first, destination lane last).
    pub fn links(&self) -> &[LinkId] {
        &self.links[..self.n_links as usize]
    }
    /// Switches in order.
    pub fn switches(&self) -> &[NodeId] {
        &self.switches[..self.n_switches as usize]
    }
    /// Switch hops (1 under one T0, 3 through a T1).
    pub fn switch_hops(&self) -> usize {
        self.n_switches as usize
    }
    /// Whether the path uses `link`.
    pub fn crosses_link(&self, link: LinkId) -> bool {
        self.links().contains(&link)
    }
    /// Whether the path goes through `switch`.
    pub fn crosses_switch(&self, switch: NodeId) -> bool {
        self.switches().contains(&switch)
    }
}

/// A decoded outer destination.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Decoded {
    /// Plane.
    pub plane: u8,
    /// Source T0 uplink, `None` for a path that stays under one T0.
    pub uplink: Option<u32>,
    /// Source T0 index.
    pub src_t0: u32,
    /// Destination NIC.
    pub dst: u32,
}

/// A QP's EV set (§7.5): per plane a seeded permutation of the uplinks; the first `active`
/// are in use, the next `backup` are spares.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct EvSet {
    /// Active EVs, plane by plane.
    pub active: Vec<Ev>,
    /// Backup EVs, plane by plane.
    pub backup: Vec<Ev>,
}

/// A built multi-plane Clos with its addressing.
#[derive(Clone, Debug)]
pub struct Clos {
    params: ClosParams,
    dims: ClosDims,
    topo: Topology,
}

impl Clos {
    /// Builds the fabric. Fails for impossible requests and for fabrics outside the uSID layout
    /// (more than 8 planes, more than 2,048 switches per tier and plane, radix > 1,024 when
    /// parallel links need uA SIDs).
    pub fn new(params: ClosParams) -> Result<Self, ParamError> {
        let d = params.dims()?;
        let usid_limit = |param, what, value: u32, max: u32| {
            if value > max {
                Err(ParamError::UsidSpace {
                    param,
                    what,
                    value: value.into(),
                    max: max.into(),
                })
            } else {
                Ok(())
            }
        };
        usid_limit(Param::Planes, "planes", d.planes, usid::MAX_PLANES)?;
        usid_limit(
            Param::Nics,
            "T0 switches per plane",
            d.t0,
            usid::MAX_INDEX + 1,
        )?;
        usid_limit(
            Param::SwitchGbps,
            "T1 switches per plane",
            d.t1,
            usid::MAX_INDEX + 1,
        )?;
        usid_limit(
            Param::SwitchGbps,
            "NIC ports per T0",
            d.t0_down,
            usid::MAX_INDEX + 1,
        )?;
        if d.parallel > 1 {
            usid_limit(
                Param::SwitchGbps,
                "radix with parallel T0–T1 links",
                d.radix,
                usid::MAX_ADJ_PORT + 1,
            )?;
        }
        let links = d.nic_links() + d.switch_links();
        if links >= u64::from(u32::MAX) {
            return Err(ParamError::TooLarge {
                param: Param::Nics,
                what: "links",
                value: links,
            });
        }
        Ok(Self {
            params,
            dims: d,
            topo: build(&params, &d),
        })
    }

    /// The parameters the fabric was built from.
    pub fn params(&self) -> &ClosParams {
        &self.params
    }
    /// The dimensions.
    pub fn dims(&self) -> &ClosDims {
        &self.dims
    }
    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// T0 `i` of `plane`.
    pub fn t0(&self, plane: u32, i: u32) -> NodeId {
        NodeId(self.dims.nics + plane * (self.dims.t0 + self.dims.t1) + i)
    }
    /// T1 `j` of `plane`.
    pub fn t1(&self, plane: u32, j: u32) -> NodeId {
        NodeId(self.dims.nics + plane * (self.dims.t0 + self.dims.t1) + self.dims.t0 + j)
    }
    /// The (T0 index, downlink port) a NIC attaches to, in every plane.
    pub fn attachment(&self, nic: u32) -> (u32, u32) {
        (nic / self.dims.t0_down, nic % self.dims.t0_down)
    }
    /// The cable of lane `plane` of `nic`.
    pub fn lane_link(&self, nic: u32, plane: u32) -> LinkId {
        LinkId(nic * self.dims.planes + plane)
    }
    /// The cable on uplink `u` of T0 `i` in `plane`.
    pub fn uplink_link(&self, plane: u32, i: u32, u: u32) -> LinkId {
        let d = &self.dims;
        LinkId(d.nics * d.planes + (plane * d.t0 + i) * d.t0_up + u)
    }
    /// T1 index and T1 port reached by uplink `u` of T0 `i`.
    pub fn uplink_target(&self, i: u32, u: u32) -> (u32, u32) {
        (u % self.dims.t1, (u / self.dims.t1) * self.dims.t0 + i)
    }

    /// What a link is.
    pub fn link_role(&self, link: LinkId) -> LinkRole {
        let d = &self.dims;
        let lanes = d.nics * d.planes;
        if link.0 < lanes {
            LinkRole::NicLane {
                nic: link.0 / d.planes,
                plane: (link.0 % d.planes) as u8,
            }
        } else {
            let r = link.0 - lanes;
            let (pi, u) = (r / d.t0_up, r % d.t0_up);
            LinkRole::T0T1 {
                plane: (pi / d.t0) as u8,
                t0: pi % d.t0,
                uplink: u,
                t1: u % d.t1,
            }
        }
    }

    /// The EV for `plane` and source T0 uplink `uplink`.
    pub fn ev(&self, plane: u32, uplink: u32) -> Ev {
        Ev((plane << self.dims.uplink_bits()) | uplink)
    }
    /// Plane and uplink of an EV.
    pub fn ev_parts(&self, ev: Ev) -> Result<(u32, u32), RouteError> {
        let bits = self.dims.uplink_bits();
        let (plane, uplink) = (ev.0 >> bits, ev.0 & ((1 << bits) - 1));
        if plane >= self.dims.planes || uplink >= self.dims.t0_up {
            return Err(RouteError::BadEv(ev.0));
        }
        Ok((plane, uplink))
    }
    /// Every EV of the fabric, plane by plane.
    pub fn evs(&self) -> impl Iterator<Item = Ev> + '_ {
        (0..self.dims.planes).flat_map(move |p| (0..self.dims.t0_up).map(move |u| self.ev(p, u)))
    }

    fn check_nic(&self, nic: u32) -> Result<(), RouteError> {
        if nic < self.dims.nics {
            Ok(())
        } else {
            Err(RouteError::NoSuchNic(nic))
        }
    }

    /// The uSID list of the path `ev` from `src` to `dst` (§7.4; uA form below full size).
    pub fn usids(&self, ev: Ev, src: u32, dst: u32) -> Result<Carrier, RouteError> {
        self.check_nic(src)?;
        self.check_nic(dst)?;
        let (p, u) = self.ev_parts(ev)?;
        let (a, _) = self.attachment(src);
        let (b, qb) = self.attachment(dst);
        let p8 = p as u8;
        let list = |l: &[Usid]| {
            let mut raw = [0u16; 6];
            for (r, s) in raw.iter_mut().zip(l) {
                *r = s.encode();
            }
            Carrier::new(BLOCK, &raw[..l.len()]).map_err(|_| RouteError::BadEv(ev.0))
        };
        if a == b {
            return list(&[Usid::t0(p8, a as u16), Usid::nic(p8, qb as u16)]);
        }
        let (j, t1_port) = self.uplink_target(a, u);
        let t1 = Usid::t1(p8, j as u16);
        if self.dims.parallel == 1 {
            list(&[
                Usid::t0(p8, a as u16),
                t1,
                Usid::t0(p8, b as u16),
                Usid::nic(p8, qb as u16),
            ])
        } else {
            let (_, down_port) = self.uplink_target(b, u);
            debug_assert_eq!(t1_port % self.dims.t0, a);
            list(&[
                Usid::t0(p8, a as u16),
                Usid::adj(p8, (self.dims.t0_down + u) as u16),
                t1,
                Usid::adj(p8, down_port as u16),
                Usid::t0(p8, b as u16),
                Usid::nic(p8, qb as u16),
            ])
        }
    }

    /// The outer SRv6 destination for `ev` from `src` to `dst` (§7.5 `da`).
    pub fn da(&self, ev: Ev, src: u32, dst: u32) -> Result<Ipv6Addr, RouteError> {
        Ok(self.usids(ev, src, dst)?.addr())
    }

    /// The path `ev` takes from `src` to `dst`.
    pub fn path(&self, ev: Ev, src: u32, dst: u32) -> Result<Path, RouteError> {
        self.check_nic(src)?;
        self.check_nic(dst)?;
        let (p, u) = self.ev_parts(ev)?;
        Ok(self.path_parts(p, Some(u), src, dst))
    }

    fn path_parts(&self, p: u32, uplink: Option<u32>, src: u32, dst: u32) -> Path {
        let (a, _) = self.attachment(src);
        let (b, _) = self.attachment(dst);
        let (l0, l3) = (self.lane_link(src, p), self.lane_link(dst, p));
        let mut path = Path {
            plane: p as u8,
            links: [l0, l3, l3, l3],
            n_links: 2,
            switches: [self.t0(p, a); 3],
            n_switches: 1,
        };
        if let Some(u) = uplink.filter(|_| a != b) {
            let (j, _) = self.uplink_target(a, u);
            path.links = [l0, self.uplink_link(p, a, u), self.uplink_link(p, b, u), l3];
            path.n_links = 4;
            path.switches = [self.t0(p, a), self.t1(p, j), self.t0(p, b)];
            path.n_switches = 3;
        }
        path
    }

    /// Reads plane, uplink, source T0 and destination NIC back out of an outer destination.
    pub fn decode_da(&self, da: Ipv6Addr) -> Result<Decoded, RouteError> {
        let bad = RouteError::BadDa(da);
        let c = Carrier::from_addr(da).map_err(|_| bad)?;
        if c.block() != BLOCK {
            return Err(bad);
        }
        let mut s = [Usid::t0(0, 0); 6];
        let n = c.usids().len();
        for (slot, raw) in s.iter_mut().zip(c.usids()) {
            *slot = Usid::decode(*raw).ok_or(bad)?;
        }
        let s = &s[..n];
        let plane = s.first().ok_or(bad)?.plane;
        if s.iter().any(|x| x.plane != plane) || u32::from(plane) >= self.dims.planes {
            return Err(bad);
        }
        use crate::usid::Kind::{Adj, Nic, T0, T1};
        let d = &self.dims;
        let (src_t0, uplink, dst_t0, q) = match s {
            [x, y] if x.kind == T0 && y.kind == Nic => (x.index, None, x.index, y.index),
            [x, t1, y, z]
                if d.parallel == 1 && (x.kind, t1.kind, y.kind, z.kind) == (T0, T1, T0, Nic) =>
            {
                (x.index, Some(u32::from(t1.index)), y.index, z.index)
            }
            [x, up, t1, down, y, z]
                if d.parallel > 1
                    && (x.kind, up.kind, t1.kind, down.kind, y.kind, z.kind)
                        == (T0, Adj, T1, Adj, T0, Nic) =>
            {
                let u = u32::from(up.index).checked_sub(d.t0_down).ok_or(bad)?;
                if u >= d.t0_up
                    || self.uplink_target(u32::from(x.index), u).0 != u32::from(t1.index)
                    || self.uplink_target(u32::from(y.index), u).1 != u32::from(down.index)
                {
                    return Err(bad);
                }
                (x.index, Some(u), y.index, z.index)
            }
            _ => return Err(bad),
        };
        let (src_t0, dst_t0, q) = (u32::from(src_t0), u32::from(dst_t0), u32::from(q));
        let dst = dst_t0 * d.t0_down + q;
        let valid_up = uplink.is_none_or(|u| u < d.t0_up && src_t0 != dst_t0);
        if src_t0 >= d.t0 || dst_t0 >= d.t0 || q >= d.t0_down || dst >= d.nics || !valid_up {
            return Err(bad);
        }
        Ok(Decoded {
            plane,
            uplink,
            src_t0,
            dst,
        })
    }

    /// The path an outer destination names, from NIC `src` (which must sit under its source T0).
    pub fn path_of_da(&self, src: u32, da: Ipv6Addr) -> Result<Path, RouteError> {
        self.check_nic(src)?;
        let dec = self.decode_da(da)?;
        if self.attachment(src).0 != dec.src_t0 {
            return Err(RouteError::BadDa(da));
        }
        Ok(self.path_parts(u32::from(dec.plane), dec.uplink, src, dec.dst))
    }

    /// Self-probe through the NIC's own T0 in `plane` (§8): outer DA `T0(p,a):NIC(p,q)`; the
    /// inner DA is the NIC's own address.
    pub fn probe_t0(&self, nic: u32, plane: u32) -> Result<(Ipv6Addr, Path), RouteError> {
        self.check_nic(nic)?;
        if plane >= self.dims.planes {
            return Err(RouteError::NoSuchPlane(plane));
        }
        let da = self.usids(self.ev(plane, 0), nic, nic)?.addr();
        Ok((da, self.path_parts(plane, None, nic, nic)))
    }

    /// Self-probe out of uplink `uplink` and back (`T0 T1 T0 NIC`, uA form below full size).
    pub fn probe_t1(
        &self,
        nic: u32,
        plane: u32,
        uplink: u32,
    ) -> Result<(Ipv6Addr, Path), RouteError> {
        self.check_nic(nic)?;
        if plane >= self.dims.planes {
            return Err(RouteError::NoSuchPlane(plane));
        }
        if uplink >= self.dims.t0_up {
            return Err(RouteError::BadEv(self.ev(plane, uplink).0));
        }
        let (p, d) = (plane as u8, &self.dims);
        let (a, q) = self.attachment(nic);
        let (j, t1_port) = self.uplink_target(a, uplink);
        let raw: Vec<u16> = if d.parallel == 1 {
            vec![
                Usid::t0(p, a as u16),
                Usid::t1(p, j as u16),
                Usid::t0(p, a as u16),
                Usid::nic(p, q as u16),
            ]
        } else {
            vec![
                Usid::t0(p, a as u16),
                Usid::adj(p, (d.t0_down + uplink) as u16),
                Usid::t1(p, j as u16),
                Usid::adj(p, t1_port as u16),
                Usid::t0(p, a as u16),
                Usid::nic(p, q as u16),
            ]
        }
        .into_iter()
        .map(Usid::encode)
        .collect();
        let da = Carrier::new(BLOCK, &raw)
            .map_err(|_| RouteError::NoSuchPlane(plane))?
            .addr();
        let up = self.uplink_link(plane, a, uplink);
        let path = Path {
            plane: p,
            links: [
                self.lane_link(nic, plane),
                up,
                up,
                self.lane_link(nic, plane),
            ],
            n_links: 4,
            switches: [self.t0(plane, a), self.t1(plane, j), self.t0(plane, a)],
            n_switches: 3,
        };
        Ok((da, path))
    }

    /// The uplink NIC `nic` probes at `tick` (§8: `(q + tick) mod uplinks`), so the NICs under a
    /// T0 cover all its uplinks every tick.
    pub fn probe_uplink(&self, nic: u32, tick: u64) -> u32 {
        let q = u64::from(self.attachment(nic).1);
        ((q + tick) % u64::from(self.dims.t0_up)) as u32
    }

    /// A QP's EV set (§7.5): per plane a seeded permutation of the uplinks; the first `active`
    /// are active and the next `backup` are spares (both capped by the uplink count).
    pub fn ev_set(&self, seed: u64, active: u32, backup: u32) -> EvSet {
        let mut rng = SplitMix64::new(seed);
        let mut set = EvSet {
            active: Vec::new(),
            backup: Vec::new(),
        };
        let n = self.dims.t0_up;
        let mut perm: Vec<u32> = (0..n).collect();
        for p in 0..self.dims.planes {
            for i in (1..perm.len()).rev() {
                perm.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let a = active.min(n) as usize;
            let b = (active.saturating_add(backup)).min(n) as usize;
            set.active.extend(perm[..a].iter().map(|&u| self.ev(p, u)));
            set.backup.extend(perm[a..b].iter().map(|&u| self.ev(p, u)));
        }
        set
    }

    /// The node's role: `(plane, tier, index)` for switches, `None` for NICs.
    pub fn switch_role(&self, node: NodeId) -> Option<(u32, u8, u32)> {
        match self.topo.node(node).kind {
            NodeKind::Switch { plane, tier, index } => Some((u32::from(plane), tier, index)),
            NodeKind::Nic { .. } => None,
        }
    }

    /// The uSID of a switch (its node SID).
    pub fn node_usid(&self, node: NodeId) -> Option<Usid> {
        let (p, tier, i) = self.switch_role(node)?;
        Some(if tier == 0 {
            Usid::t0(p as u8, i as u16)
        } else {
            Usid::t1(p as u8, i as u16)
        })
    }
}

fn build(params: &ClosParams, d: &ClosDims) -> Topology {
    let t1_ports = d.t0 * d.parallel;
    let switch_ports =
        u64::from(d.planes) * (u64::from(d.t0) * u64::from(d.radix) + u64::from(d.t1 * t1_ports));
    let mut topo = Topology::with_capacity(
        (d.nics as usize) + d.switches() as usize,
        (d.nic_links() + switch_ports) as usize,
        (d.nic_links() + d.switch_links()) as usize,
    );
    for n in 0..d.nics {
        topo.add_node(NodeKind::Nic { index: n }, d.planes, (n, n + 1));
    }
    for p in 0..d.planes {
        for i in 0..d.t0 {
            let lo = i * d.t0_down;
            let down = (lo, (lo + d.t0_down).min(d.nics));
            topo.add_node(
                NodeKind::Switch {
                    plane: p as u8,
                    tier: 0,
                    index: i,
                },
                d.radix,
                down,
            );
        }
        for j in 0..d.t1 {
            topo.add_node(
                NodeKind::Switch {
                    plane: p as u8,
                    tier: 1,
                    index: j,
                },
                t1_ports,
                (0, d.nics),
            );
        }
    }
    let t0_node = |p: u32, i: u32| NodeId(d.nics + p * (d.t0 + d.t1) + i);
    for n in 0..d.nics {
        let (a, q) = (n / d.t0_down, n % d.t0_down);
        for p in 0..d.planes {
            topo.connect(
                PortRef {
                    node: NodeId(n),
                    port: p,
                },
                PortRef {
                    node: t0_node(p, a),
                    port: q,
                },
                d.lane_gbps,
                params.nic_link_latency_ns,
            );
        }
    }
    for p in 0..d.planes {
        for i in 0..d.t0 {
            for u in 0..d.t0_up {
                let (j, port) = (u % d.t1, (u / d.t1) * d.t0 + i);
                topo.connect(
                    PortRef {
                        node: t0_node(p, i),
                        port: d.t0_down + u,
                    },
                    PortRef {
                        node: NodeId(t0_node(p, 0).0 + d.t0 + j),
                        port,
                    },
                    d.lane_gbps,
                    params.switch_link_latency_ns,
                );
            }
        }
    }
    topo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::StaticTables;

    #[test]
    fn reference_worked_example() {
        let clos = Clos::new(ClosParams::default()).unwrap();
        // a = 1, b = 2, p = 0, j = 5, qb = 7.
        let (src, dst) = (256 + 3, 2 * 256 + 7);
        let ev = clos.ev(0, 5);
        assert_eq!(ev, Ev(5));
        assert_eq!(
            clos.da(ev, src, dst).unwrap(),
            "fc00:0:801:1005:802:1807::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            clos.da(clos.ev(3, 5), src, dst).unwrap(),
            "fc00:0:6801:7005:6802:7807::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(clos.ev(3, 5), Ev(0x305));
        let same = clos.da(ev, src, 256 + 9).unwrap();
        assert_eq!(same, "fc00:0:801:1809::".parse::<Ipv6Addr>().unwrap());
        let path = clos.path(ev, src, dst).unwrap();
        assert_eq!(
            path.switches(),
            &[clos.t0(0, 1), clos.t1(0, 5), clos.t0(0, 2)]
        );
        assert_eq!(path.switch_hops(), 3);
        assert_eq!(
            clos.path_of_da(src, clos.da(ev, src, dst).unwrap())
                .unwrap(),
            path
        );
        let dec = clos
            .decode_da(clos.da(clos.ev(7, 255), src, dst).unwrap())
            .unwrap();
        assert_eq!(
            dec,
            Decoded {
                plane: 7,
                uplink: Some(255),
                src_t0: 1,
                dst
            }
        );
        // Self-probes (§7.4).
        let (t0_loop, p0) = clos.probe_t0(src, 0).unwrap();
        assert_eq!(t0_loop, "fc00:0:801:1803::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p0.switch_hops(), 1);
        let (t1_loop, p1) = clos.probe_t1(src, 0, 5).unwrap();
        assert_eq!(
            t1_loop,
            "fc00:0:801:1005:801:1803::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(p1.links()[1], p1.links()[2]);
        let tables = StaticTables::new(&clos);
        for da in [t0_loop, t1_loop] {
            let trace = tables.forward(&clos, src, da).unwrap();
            assert_eq!(trace.delivered_to, src);
        }
        assert_eq!(
            tables.forward(&clos, src, t1_loop).unwrap().links(),
            p1.links()
        );
    }

    #[test]
    fn static_table_sizes() {
        let clos = Clos::new(ClosParams::default()).unwrap();
        let tables = StaticTables::new(&clos);
        assert_eq!(tables.table(clos.t0(3, 17)).len(), 513);
        assert_eq!(tables.table(clos.t1(7, 255)).len(), 513);
        assert_eq!(tables.table(NodeId(12_345)).len(), 16);
        let t0 = tables.table(clos.t0(0, 1));
        assert_eq!(t0.lookup(Usid::t0(0, 1).key()), Some(crate::Action::End));
        assert_eq!(
            t0.lookup(Usid::t1(0, 5).key()),
            Some(crate::Action::Forward(256 + 5))
        );
        assert_eq!(
            t0.lookup(Usid::nic(0, 7).key()),
            Some(crate::Action::Forward(7))
        );
        assert_eq!(t0.lookup(Usid::t0(0, 2).key()), None);
        assert_eq!(t0.lookup(Usid::t1(1, 5).key()), None);
        assert_eq!(t0.entries().len(), 513);
    }

    #[test]
    fn probe_rotation_covers_every_uplink() {
        let clos = Clos::new(ClosParams::new(2_048, 8, 800, 6_400)).unwrap();
        let d = *clos.dims();
        for tick in [0, 1, 77] {
            let mut seen: Vec<u32> = (0..d.t0_down).map(|n| clos.probe_uplink(n, tick)).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len() as u32, d.t0_up);
        }
    }

    #[test]
    fn ev_set_is_deterministic_and_valid() {
        let clos = Clos::new(ClosParams::default()).unwrap();
        let a = clos.ev_set(42, 32, 8);
        assert_eq!(a, clos.ev_set(42, 32, 8));
        assert_ne!(a, clos.ev_set(43, 32, 8));
        assert_eq!((a.active.len(), a.backup.len()), (256, 64));
        let mut all: Vec<Ev> = a.active.iter().chain(&a.backup).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 320);
        assert!(all.iter().all(|&ev| clos.ev_parts(ev).is_ok()));
    }

    #[test]
    fn link_roles_and_localisation() {
        let clos = Clos::new(ClosParams::new(2_048, 4, 400, 6_400)).unwrap();
        let path = clos.path(clos.ev(2, 9), 5, 1_500).unwrap();
        let up = path.links()[1];
        assert_eq!(
            clos.link_role(up),
            LinkRole::T0T1 {
                plane: 2,
                t0: 0,
                uplink: 9,
                t1: 9 % clos.dims().t1
            }
        );
        assert_eq!(
            clos.link_role(path.links()[0]),
            LinkRole::NicLane { nic: 5, plane: 2 }
        );
        assert!(path.crosses_link(up) && path.crosses_switch(clos.t1(2, 9 % clos.dims().t1)));
        assert!(
            !clos
                .path(clos.ev(2, 10), 5, 1_500)
                .unwrap()
                .crosses_link(up)
        );
    }

    #[test]
    fn bad_inputs() {
        let clos = Clos::new(ClosParams::new(1_024, 8, 800, 6_400)).unwrap();
        assert_eq!(clos.da(Ev(8 << 8), 0, 1), Err(RouteError::BadEv(8 << 8)));
        assert_eq!(clos.da(Ev(32), 0, 1), Err(RouteError::BadEv(32)));
        assert_eq!(clos.da(Ev(0), 0, 1_024), Err(RouteError::NoSuchNic(1_024)));
        assert!(clos.decode_da("fc00:0:801::".parse().unwrap()).is_err());
        assert!(
            clos.decode_da("fc01:0:801:1803::".parse().unwrap())
                .is_err()
        );
        assert!(Clos::new(ClosParams::new(64, 16, 1_600, 51_200)).is_err());
    }

    #[test]
    fn ecmp_baseline_next_hops() {
        let clos = Clos::new(ClosParams::new(2_048, 8, 800, 6_400)).unwrap();
        let t = clos.topology();
        let d = *clos.dims();
        let ups: Vec<u32> = (d.t0_down..d.radix).collect();
        assert_eq!(
            t.ecmp_next_hops(clos.t0(1, 0), 2_000).collect::<Vec<_>>(),
            ups
        );
        assert_eq!(
            t.ecmp_next_hops(clos.t0(1, 0), 3).collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(
            t.ecmp_next_hops(clos.t1(1, 0), 2_000).collect::<Vec<_>>(),
            vec![2_000 / d.t0_down]
        );
        assert_eq!(t.ecmp_next_hops(NodeId(7), 2_000).count(), 8);
    }
}
