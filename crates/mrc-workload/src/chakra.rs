//! MLCommons Chakra execution traces (docs/workload.md §11): reader and conversion of the
//! communication nodes into collectives with dependencies.
//!
//! A `.et` file (optionally gzip-compressed) is a stream of messages, each prefixed by its
//! varint length: one `GlobalMetadata`, then `Node`s. The message structs below are a
//! hand-written subset of `schema/protobuf/et_def.proto` (package `ChakraProtoMsg`); fields we do
//! not need (`inputs` 8, `outputs` 9, `storage` 11, …) are skipped by prost.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use prost::Message;

use crate::collective::{Algorithm, Collective, CollectiveError, CollectiveKind, Start};
use crate::dag::{Dag, OpId};

/// `GlobalMetadata`: the first message of a trace.
#[derive(Clone, PartialEq, Message)]
pub struct GlobalMetadata {
    /// Schema version string (often empty; the sample carries it as the `schema` attribute).
    #[prost(string, tag = "1")]
    pub version: String,
    /// Attributes.
    #[prost(message, repeated, tag = "2")]
    pub attr: Vec<AttributeProto>,
}

/// `Node`: one compute or communication operation.
#[derive(Clone, PartialEq, Message)]
pub struct Node {
    /// Node id, unique in the trace.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// Operation name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// [`NodeType`] as its integer value.
    #[prost(int32, tag = "3")]
    pub r#type: i32,
    /// Control dependencies (node ids).
    #[prost(uint64, repeated, tag = "4")]
    pub ctrl_deps: Vec<u64>,
    /// Data dependencies (node ids).
    #[prost(uint64, repeated, tag = "5")]
    pub data_deps: Vec<u64>,
    /// Start time in the profiled run, µs.
    #[prost(uint64, tag = "6")]
    pub start_time_micros: u64,
    /// Duration in the profiled run, µs.
    #[prost(uint64, tag = "7")]
    pub duration_micros: u64,
    /// Attributes (`comm_type`, `comm_size`, `is_cpu_op`, `pg_name`, …).
    #[prost(message, repeated, tag = "10")]
    pub attr: Vec<AttributeProto>,
}

/// `AttributeProto`: a named value.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The value (one of).
    #[prost(oneof = "AttrValue", tags = "3, 5, 7, 9, 11, 13, 15, 17, 27, 28, 29")]
    pub value: Option<AttrValue>,
}

/// `BoolList`.
#[derive(Clone, PartialEq, Message)]
pub struct BoolList {
    /// Values.
    #[prost(bool, repeated, tag = "1")]
    pub values: Vec<bool>,
}

/// The `value` oneof of [`AttributeProto`] (the subset we read).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum AttrValue {
    /// `double_val`.
    #[prost(double, tag = "3")]
    DoubleVal(f64),
    /// `float_val`.
    #[prost(float, tag = "5")]
    FloatVal(f32),
    /// `int32_val`.
    #[prost(int32, tag = "7")]
    Int32Val(i32),
    /// `int64_val`.
    #[prost(int64, tag = "9")]
    Int64Val(i64),
    /// `uint32_val`.
    #[prost(uint32, tag = "11")]
    Uint32Val(u32),
    /// `uint64_val`.
    #[prost(uint64, tag = "13")]
    Uint64Val(u64),
    /// `sint32_val`.
    #[prost(sint32, tag = "15")]
    Sint32Val(i32),
    /// `sint64_val`.
    #[prost(sint64, tag = "17")]
    Sint64Val(i64),
    /// `bool_val`.
    #[prost(bool, tag = "27")]
    BoolVal(bool),
    /// `bool_list`.
    #[prost(message, tag = "28")]
    BoolList(BoolList),
    /// `string_val`.
    #[prost(string, tag = "29")]
    StringVal(String),
}

impl AttrValue {
    /// The value as a signed integer, for any integer variant (u64 beyond i64 range → None).
    pub fn as_i128(&self) -> Option<i128> {
        match *self {
            Self::Int32Val(v) | Self::Sint32Val(v) => Some(i128::from(v)),
            Self::Int64Val(v) | Self::Sint64Val(v) => Some(i128::from(v)),
            Self::Uint32Val(v) => Some(i128::from(v)),
            Self::Uint64Val(v) => Some(i128::from(v)),
            _ => None,
        }
    }
}

/// `NodeType`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[non_exhaustive]
pub enum NodeType {
    /// 0.
    Invalid,
    /// 1.
    Metadata,
    /// 2.
    MemLoad,
    /// 3.
    MemStore,
    /// 4: compute.
    Comp,
    /// 5: point-to-point send.
    CommSend,
    /// 6: point-to-point receive.
    CommRecv,
    /// 7: collective.
    CommColl,
    /// 8 and above (storage, batch, checkpoint nodes of newer schemas) or unknown.
    Other(i32),
}

impl From<i32> for NodeType {
    fn from(v: i32) -> Self {
        match v {
            0 => Self::Invalid,
            1 => Self::Metadata,
            2 => Self::MemLoad,
            3 => Self::MemStore,
            4 => Self::Comp,
            5 => Self::CommSend,
            6 => Self::CommRecv,
            7 => Self::CommColl,
            o => Self::Other(o),
        }
    }
}

/// Map a Chakra `CollectiveCommType` value to our collective kind, if we implement it:
/// ALL_REDUCE 0, ALL_GATHER 2, BROADCAST 5, ALL_TO_ALL 6, REDUCE_SCATTER 7 and
/// REDUCE_SCATTER_BLOCK 8. REDUCE 1, GATHER 3, SCATTER 4, BARRIER 9 → None.
pub const fn collective_kind(comm_type: i64) -> Option<CollectiveKind> {
    match comm_type {
        0 => Some(CollectiveKind::AllReduce),
        2 => Some(CollectiveKind::AllGather),
        5 => Some(CollectiveKind::Broadcast),
        6 => Some(CollectiveKind::AllToAll),
        7 | 8 => Some(CollectiveKind::ReduceScatter),
        _ => None,
    }
}

/// Errors reading or converting a trace.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChakraError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// gzip decompression failed.
    #[error("gzip: {0}")]
    Gzip(std::io::Error),
    /// A message did not decode.
    #[error("message {index} (byte offset {offset}): {source}")]
    Decode {
        /// Message index (0 = metadata).
        index: usize,
        /// Byte offset of its length prefix.
        offset: usize,
        /// prost's error.
        source: prost::DecodeError,
    },
    /// The trace has no metadata message.
    #[error("empty trace: no GlobalMetadata message")]
    Empty,
    /// The trace is beyond a bound that keeps a small file from taking the machine down.
    #[error("{what} exceeds the bound of {limit} (a larger trace is refused, not truncated)")]
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// The bound.
        limit: u64,
    },
    /// An attribute had the wrong type or a negative size.
    #[error("node {node}: attribute {name}: {problem}")]
    BadAttribute {
        /// Node id.
        node: u64,
        /// Attribute name.
        name: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// Two nodes share an id.
    #[error("duplicate node id {0}")]
    DuplicateId(u64),
    /// The dependencies form a cycle.
    #[error("dependency cycle through node {0}")]
    Cycle(u64),
    /// A collective type we do not decompose.
    #[error("node {node}: unsupported comm_type {comm_type}")]
    UnsupportedCollective {
        /// Node id.
        node: u64,
        /// Chakra `CollectiveCommType` value.
        comm_type: i64,
    },
    /// Building the collective failed.
    #[error("node {node}: {source}")]
    Collective {
        /// Node id.
        node: u64,
        /// The cause.
        source: CollectiveError,
    },
}

/// A decoded trace of one rank.
#[derive(Clone, PartialEq, Debug)]
pub struct Trace {
    /// The first message.
    pub metadata: GlobalMetadata,
    /// All nodes in file order.
    pub nodes: Vec<Node>,
}

/// What a communication node does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CommOp {
    /// A collective we implement.
    Collective(CollectiveKind),
    /// A collective type we do not decompose (Chakra `CollectiveCommType` value).
    OtherCollective(i64),
    /// Send to `comm_dst`.
    Send {
        /// Destination rank (`comm_dst`), if present.
        dst: Option<i64>,
    },
    /// Receive from `comm_src`.
    Recv {
        /// Source rank (`comm_src`), if present.
        src: Option<i64>,
    },
}

/// A communication node: COMM_COLL / COMM_SEND / COMM_RECV that carries a `comm_size`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommNode {
    /// Node id.
    pub id: u64,
    /// Node name.
    pub name: String,
    /// What it does.
    pub op: CommOp,
    /// Bytes (`comm_size`).
    pub size_bytes: u64,
    /// Process group (`pg_name`), if present.
    pub pg_name: Option<String>,
}

impl Node {
    /// The node type.
    pub fn node_type(&self) -> NodeType {
        NodeType::from(self.r#type)
    }

    /// The first attribute called `name`.
    pub fn attr(&self, name: &str) -> Option<&AttrValue> {
        self.attr
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_ref())
    }

    fn int_attr(&self, name: &'static str) -> Result<Option<i128>, ChakraError> {
        match self.attr(name) {
            None => Ok(None),
            Some(v) => v
                .as_i128()
                .map(Some)
                .ok_or_else(|| ChakraError::BadAttribute {
                    node: self.id,
                    name,
                    problem: format!("expected an integer, got {v:?}"),
                }),
        }
    }

    /// `comm_size` in bytes. Accepts every integer variant (the feeder reads int64, Chakra's
    /// generator writes uint64); negative values are an error.
    pub fn comm_size(&self) -> Result<Option<u64>, ChakraError> {
        match self.int_attr("comm_size")? {
            None => Ok(None),
            Some(v) => u64::try_from(v)
                .map(Some)
                .map_err(|_| ChakraError::BadAttribute {
                    node: self.id,
                    name: "comm_size",
                    problem: format!("negative size {v}"),
                }),
        }
    }

    /// `comm_type` (Chakra `CollectiveCommType` value).
    pub fn comm_type(&self) -> Result<Option<i64>, ChakraError> {
        Ok(self
            .int_attr("comm_type")?
            .and_then(|v| i64::try_from(v).ok()))
    }

    /// `is_cpu_op`, false when absent.
    pub fn is_cpu_op(&self) -> bool {
        matches!(self.attr("is_cpu_op"), Some(AttrValue::BoolVal(true)))
    }

    /// `pg_name`, if present.
    pub fn pg_name(&self) -> Option<&str> {
        match self.attr("pg_name") {
            Some(AttrValue::StringVal(s)) => Some(s),
            _ => None,
        }
    }

    /// Dependencies: data deps, then control deps when `with_ctrl`; self-references dropped.
    pub fn deps(&self, with_ctrl: bool) -> impl Iterator<Item = u64> + '_ {
        let ctrl: &[u64] = if with_ctrl { &self.ctrl_deps } else { &[] };
        self.data_deps
            .iter()
            .chain(ctrl.iter())
            .copied()
            .filter(move |&d| d != self.id)
    }

    /// This node as a communication node: COMM_COLL / COMM_SEND / COMM_RECV with a `comm_size`.
    /// Host-side COMM_COLL records without `comm_size` (e.g. `c10d::allreduce_` CPU ops) give
    /// `None`.
    pub fn as_comm(&self) -> Result<Option<CommNode>, ChakraError> {
        let op = match self.node_type() {
            NodeType::CommColl => match self.comm_type()? {
                Some(t) => {
                    collective_kind(t).map_or(CommOp::OtherCollective(t), CommOp::Collective)
                }
                None => return Ok(None),
            },
            NodeType::CommSend => CommOp::Send {
                dst: self
                    .int_attr("comm_dst")?
                    .and_then(|v| i64::try_from(v).ok()),
            },
            NodeType::CommRecv => CommOp::Recv {
                src: self
                    .int_attr("comm_src")?
                    .and_then(|v| i64::try_from(v).ok()),
            },
            _ => return Ok(None),
        };
        let Some(size_bytes) = self.comm_size()? else {
            return Ok(None);
        };
        Ok(Some(CommNode {
            id: self.id,
            name: self.name.clone(),
            op,
            size_bytes,
            pg_name: self.pg_name().map(str::to_owned),
        }))
    }
}

/// Largest trace, compressed or not, in bytes (a gzip bomb stops here).
pub const MAX_TRACE_BYTES: u64 = 256 << 20;
/// Most nodes in a trace.
pub const MAX_NODES: usize = 2_000_000;

impl Trace {
    /// Read a `.et` or `.et.gz` file (gzip detected by its magic bytes).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ChakraError> {
        let path = path.as_ref();
        let io = |source| ChakraError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut raw = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TRACE_BYTES + 1).read_to_end(&mut raw))
            .map_err(io)?;
        if raw.len() as u64 > MAX_TRACE_BYTES {
            return Err(ChakraError::TooLarge {
                what: "the trace file (bytes)",
                limit: MAX_TRACE_BYTES,
            });
        }
        Self::from_bytes(&raw)
    }

    /// Decode a trace from bytes, gunzipping first if they start with the gzip magic.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, ChakraError> {
        if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(raw)
                .take(MAX_TRACE_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(ChakraError::Gzip)?;
            if out.len() as u64 > MAX_TRACE_BYTES {
                return Err(ChakraError::TooLarge {
                    what: "the decompressed trace (bytes)",
                    limit: MAX_TRACE_BYTES,
                });
            }
            Self::decode(&out)
        } else {
            Self::decode(raw)
        }
    }

    /// Decode an uncompressed varint-length-delimited stream.
    pub fn decode(mut buf: &[u8]) -> Result<Self, ChakraError> {
        let total = buf.len();
        if buf.is_empty() {
            return Err(ChakraError::Empty);
        }
        let metadata = GlobalMetadata::decode_length_delimited(&mut buf).map_err(|source| {
            ChakraError::Decode {
                index: 0,
                offset: 0,
                source,
            }
        })?;
        let mut nodes = Vec::new();
        while !buf.is_empty() {
            if nodes.len() == MAX_NODES {
                return Err(ChakraError::TooLarge {
                    what: "the node count",
                    limit: MAX_NODES as u64,
                });
            }
            let offset = total - buf.len();
            let node =
                Node::decode_length_delimited(&mut buf).map_err(|source| ChakraError::Decode {
                    index: nodes.len() + 1,
                    offset,
                    source,
                })?;
            nodes.push(node);
        }
        Ok(Self { metadata, nodes })
    }

    /// Communication nodes in file order (see [`Node::as_comm`]).
    pub fn comm_nodes(&self) -> Result<Vec<CommNode>, ChakraError> {
        let mut out = Vec::new();
        for n in &self.nodes {
            if let Some(c) = n.as_comm()? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Node indices in a dependency-respecting order (Kahn; ties in file order), following data
    /// deps and, if `with_ctrl`, control deps. Dependencies on ids absent from the trace and on
    /// the node itself are ignored.
    pub fn topo_order(&self, with_ctrl: bool) -> Result<Vec<usize>, ChakraError> {
        let mut index: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if index.insert(n.id, i).is_some() {
                return Err(ChakraError::DuplicateId(n.id));
            }
        }
        let len = self.nodes.len();
        let mut pending = vec![0usize; len];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); len];
        for (i, n) in self.nodes.iter().enumerate() {
            let mut seen: Vec<usize> = n
                .deps(with_ctrl)
                .filter_map(|d| index.get(&d).copied())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            pending[i] = seen.len();
            for d in seen {
                dependents[d].push(i);
            }
        }
        let mut ready: std::collections::BTreeSet<usize> =
            (0..len).filter(|&i| pending[i] == 0).collect();
        let mut order = Vec::with_capacity(len);
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for &d in &dependents[i] {
                pending[d] -= 1;
                if pending[d] == 0 {
                    ready.insert(d);
                }
            }
        }
        if order.len() != len {
            let stuck = (0..len).find(|&i| pending[i] > 0).unwrap_or(0);
            return Err(ChakraError::Cycle(
                self.nodes.get(stuck).map_or(0, |n| n.id),
            ));
        }
        Ok(order)
    }
}

/// How to turn a one-rank trace into a multi-rank DAG.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ConvertOptions {
    /// Ranks that run the trace (SPMD: every rank runs the same trace; collectives span all).
    pub ranks: u32,
    /// Keep compute nodes with their `duration_micros`; when false they become zero-cost
    /// markers so only communication (and its dependencies) remains.
    pub include_compute: bool,
    /// Algorithm for all-reduce, reduce-scatter, all-gather and broadcast.
    pub algorithm: Algorithm,
    /// Algorithm for all-to-all.
    pub all_to_all: Algorithm,
    /// Also follow `ctrl_deps`. Off by default: in traces converted from PyTorch, `ctrl_deps`
    /// point to the enclosing (parent) operator, which may come later and form cycles (the
    /// sample has 383 self-references and a 2-cycle 3317 ↔ 3318); ASTRA-sim schedules on
    /// `data_deps`.
    pub use_ctrl_deps: bool,
}

impl Default for ConvertOptions {
    /// 8 ranks, compute kept, ring, pairwise all-to-all, data deps only.
    fn default() -> Self {
        Self {
            ranks: 8,
            include_compute: true,
            algorithm: Algorithm::Ring,
            all_to_all: Algorithm::Pairwise,
            use_ctrl_deps: false,
        }
    }
}

/// Result of [`Trace::to_dag`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Converted {
    /// The DAG; collectives are named `"<node id> <node name>"`.
    pub dag: Dag,
    /// Per rank: the op after which that rank has finished the whole trace.
    pub rank_done: Vec<OpId>,
    /// Trace node id of each collective in `dag.collectives`.
    pub collective_node_ids: Vec<u64>,
}

impl Trace {
    /// Build a DAG in which every one of `opts.ranks` ranks runs this trace (the sample has only
    /// rank 0's trace, so the others are assumed identical — SPMD). A node starts on a rank when
    /// its data and control dependencies have finished on that rank. Collectives with
    /// `comm_size` become [`Collective`]s over all ranks; COMM_SEND/RECV become a flow from the
    /// rank to `rank + 1` (mod n) for sends (receives only wait); COMM_COLL records without
    /// `comm_size` and other nodes are compute (or markers).
    pub fn to_dag(&self, opts: &ConvertOptions) -> Result<Converted, ChakraError> {
        let n = opts.ranks;
        let order = self.topo_order(opts.use_ctrl_deps)?;
        let mut id_to_idx: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            id_to_idx.insert(node.id, i);
        }
        let mut dag = Dag::new();
        // Per node index: per-rank op that marks its completion.
        let mut done: Vec<Option<Vec<OpId>>> = vec![None; self.nodes.len()];
        let mut ids = Vec::new();
        let all: Vec<u32> = (0..n).collect();
        for &i in &order {
            let node = &self.nodes[i];
            let dep_idx: Vec<usize> = node
                .deps(opts.use_ctrl_deps)
                .filter_map(|d| id_to_idx.get(&d).copied())
                .collect();
            let deps_of = |r: usize, done: &Vec<Option<Vec<OpId>>>| -> Vec<OpId> {
                let mut v: Vec<OpId> = dep_idx
                    .iter()
                    .filter_map(|&d| done[d].as_ref().and_then(|x| x.get(r).copied()))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let comm = node.as_comm()?;
            let per_rank: Vec<OpId> = match comm.map(|c| c.op) {
                Some(CommOp::Collective(kind)) => {
                    let size = node.comm_size()?.unwrap_or(0);
                    let alg = if kind == CollectiveKind::AllToAll {
                        opts.all_to_all
                    } else {
                        opts.algorithm
                    };
                    let starts: Vec<OpId> = (0..n as usize)
                        .map(|r| {
                            let d = deps_of(r, &done);
                            dag.marker(d)
                        })
                        .collect();
                    let c = Collective::with_algorithm(kind, alg, all.clone(), size).map_err(
                        |source| ChakraError::Collective {
                            node: node.id,
                            source,
                        },
                    )?;
                    let placed = c
                        .add_to(
                            &mut dag,
                            format!("{} {}", node.id, node.name),
                            Start::PerMember(&starts),
                        )
                        .map_err(|source| ChakraError::Collective {
                            node: node.id,
                            source,
                        })?;
                    ids.push(node.id);
                    placed.member_done
                }
                Some(CommOp::OtherCollective(t)) => {
                    return Err(ChakraError::UnsupportedCollective {
                        node: node.id,
                        comm_type: t,
                    });
                }
                Some(CommOp::Send { .. }) => {
                    let size = node.comm_size()?.unwrap_or(0);
                    (0..n)
                        .map(|r| {
                            let d = deps_of(r as usize, &done);
                            dag.flow(r, (r + 1) % n.max(1), size, d)
                        })
                        .collect()
                }
                _ => (0..n as usize)
                    .map(|r| {
                        let d = deps_of(r, &done);
                        if opts.include_compute && node.node_type() != NodeType::CommRecv {
                            dag.compute(
                                u32::try_from(r).unwrap_or(u32::MAX),
                                node.duration_micros.saturating_mul(1_000),
                                d,
                            )
                        } else {
                            dag.marker(d)
                        }
                    })
                    .collect(),
            };
            done[i] = Some(per_rank);
        }
        let rank_done = (0..n as usize)
            .map(|r| {
                let d: Vec<OpId> = done
                    .iter()
                    .filter_map(|x| x.as_ref().and_then(|v| v.get(r).copied()))
                    .collect();
                dag.marker(d)
            })
            .collect();
        Ok(Converted {
            dag,
            rank_done,
            collective_node_ids: ids,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn gzip_bomb_and_node_flood_are_bounded() {
        use std::io::Write as _;
        // One byte past the bound of zeros compresses to ~256 KB.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=(MAX_TRACE_BYTES >> 20) {
            gz.write_all(&zeros).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 4 << 20);
        assert!(matches!(
            Trace::from_bytes(&bomb),
            Err(ChakraError::TooLarge { .. })
        ));
        // Empty nodes are 1 byte each (a zero length prefix).
        let mut flood = encode(&GlobalMetadata::default(), &[]);
        flood.resize(flood.len() + MAX_NODES + 1, 0);
        assert!(matches!(
            Trace::decode(&flood),
            Err(ChakraError::TooLarge { .. })
        ));
    }

    fn encode(meta: &GlobalMetadata, nodes: &[Node]) -> Vec<u8> {
        let mut buf = Vec::new();
        meta.encode_length_delimited(&mut buf).unwrap();
        for n in nodes {
            n.encode_length_delimited(&mut buf).unwrap();
        }
        buf
    }

    fn attr(name: &str, v: AttrValue) -> AttributeProto {
        AttributeProto {
            name: name.into(),
            value: Some(v),
        }
    }

    fn coll(id: u64, comm_type: i64, size: AttrValue, deps: Vec<u64>) -> Node {
        Node {
            id,
            name: format!("coll{id}"),
            r#type: 7,
            data_deps: deps,
            attr: vec![
                attr("comm_type", AttrValue::Int64Val(comm_type)),
                attr("comm_size", size),
            ],
            ..Node::default()
        }
    }

    #[test]
    fn comm_size_accepts_int64_and_uint64_rejects_negative() {
        let a = coll(1, 0, AttrValue::Int64Val(1 << 20), vec![]);
        let b = coll(2, 2, AttrValue::Uint64Val(1 << 21), vec![]);
        let c = coll(3, 0, AttrValue::Int64Val(-5), vec![]);
        assert_eq!(a.comm_size().unwrap(), Some(1 << 20));
        assert_eq!(b.comm_size().unwrap(), Some(1 << 21));
        assert!(matches!(
            c.comm_size(),
            Err(ChakraError::BadAttribute { .. })
        ));
        let raw = encode(&GlobalMetadata::default(), &[a, b]);
        let t = Trace::from_bytes(&raw).unwrap();
        let comm = t.comm_nodes().unwrap();
        assert_eq!(comm.len(), 2);
        assert_eq!(comm[1].op, CommOp::Collective(CollectiveKind::AllGather));
        assert_eq!(comm[1].size_bytes, 1 << 21);
    }

    #[test]
    fn dag_follows_dependencies_out_of_file_order() {
        let comp = Node {
            id: 10,
            name: "gemm".into(),
            r#type: 4,
            duration_micros: 5,
            ..Node::default()
        };
        // The collective is listed first but depends on the compute node.
        let c = coll(20, 0, AttrValue::Uint64Val(4_000), vec![10]);
        let t = Trace::decode(&encode(&GlobalMetadata::default(), &[c, comp])).unwrap();
        assert_eq!(t.topo_order(false).unwrap(), vec![1, 0]);
        let conv = t
            .to_dag(&ConvertOptions {
                ranks: 4,
                ..ConvertOptions::default()
            })
            .unwrap();
        assert_eq!(conv.collective_node_ids, vec![20]);
        let tl = crate::dag::execute(&conv.dag, |_, op| match op.kind {
            crate::dag::OpKind::Compute { duration_ns, .. } => duration_ns,
            _ => 1,
        });
        // 5 µs of compute, then 2·(4−1) ring steps of 1 ns.
        assert_eq!(tl.makespan_ns(), 5_000 + 6);
    }

    #[test]
    fn errors() {
        assert!(matches!(Trace::decode(&[]), Err(ChakraError::Empty)));
        assert!(matches!(
            Trace::decode(&[0x05, 0x0a]),
            Err(ChakraError::Decode { index: 0, .. })
        ));
        let a = coll(1, 0, AttrValue::Int64Val(8), vec![2]);
        let b = coll(2, 0, AttrValue::Int64Val(8), vec![1]);
        let t = Trace::decode(&encode(&GlobalMetadata::default(), &[a, b])).unwrap();
        assert!(matches!(t.topo_order(false), Err(ChakraError::Cycle(_))));
        let barrier = coll(3, 9, AttrValue::Int64Val(8), vec![]);
        let t = Trace::decode(&encode(&GlobalMetadata::default(), &[barrier])).unwrap();
        assert!(matches!(
            t.to_dag(&ConvertOptions::default()),
            Err(ChakraError::UnsupportedCollective { comm_type: 9, .. })
        ));
    }
}
