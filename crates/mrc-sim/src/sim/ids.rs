//! Typed indices of the simulator's arenas, so a port cannot be passed where a packet or a
//! node is expected, and [`IdVec`], a vector indexed by one kind of them. Nodes use
//! `mrc_fabric::NodeId` (NIC `n` is node `n`).

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use mrc_fabric::NodeId;

/// An index type: a `u32` newtype with a "none" value (`u32::MAX`), which keeps intrusive
/// links and optional fields the size of a `u32`.
pub(crate) trait Id: Copy + Eq {
    /// The id of index `i`.
    fn new(i: usize) -> Self;
    /// The index into the arena.
    fn index(self) -> usize;
}

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub(crate) struct $name(pub(crate) u32);

        #[allow(dead_code, reason = "not every kind of id has items that may be missing")]
        impl $name {
            /// No such item (an empty link, an unconnected port).
            pub(crate) const NONE: Self = Self(u32::MAX);

            /// Whether this is [`Self::NONE`].
            pub(crate) const fn is_none(self) -> bool {
                self.0 == u32::MAX
            }
        }

        impl Id for $name {
            fn new(i: usize) -> Self {
                Self(i as u32)
            }
            fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

id! {
    /// An egress port: one direction of a link, numbered over all nodes (`Net::port_base`).
    PortId
}
id! {
    /// A packet's slot in the arena (`Net::pkts`, `Net::meta`).
    PktId
}
id! {
    /// A flow of the workload (its index in the run's flow list).
    FlowId
}
id! {
    /// A QP pair (requester and responder): a one-shot flow's or a DAG connection's.
    PairId
}

impl Id for NodeId {
    fn new(i: usize) -> Self {
        Self(i as u32)
    }
    fn index(self) -> usize {
        self.0 as usize
    }
}

/// A node that is not there (the peer of an unconnected port).
pub(super) const NO_NODE: NodeId = NodeId(u32::MAX);

/// A vector indexed by one kind of [`Id`].
#[derive(Clone, Debug)]
pub(super) struct IdVec<I, T> {
    items: Vec<T>,
    id: PhantomData<fn(I) -> I>,
}

impl<I: Id, T> IdVec<I, T> {
    /// Empty, with room for `n` items.
    pub(super) fn with_capacity(n: usize) -> Self {
        Vec::with_capacity(n).into()
    }

    /// Appends `t` and returns its id.
    pub(super) fn push(&mut self, t: T) -> I {
        self.items.push(t);
        I::new(self.items.len() - 1)
    }

    /// Number of items.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// The items in id order.
    pub(super) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// Item `i`, if there is one.
    pub(super) fn get(&self, i: I) -> Option<&T> {
        self.items.get(i.index())
    }

    /// The items as a slice, by index.
    pub(super) fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// The items with their ids.
    pub(super) fn iter_enumerated(&self) -> impl Iterator<Item = (I, &T)> {
        self.items.iter().enumerate().map(|(i, t)| (I::new(i), t))
    }
}

impl<I, T> From<Vec<T>> for IdVec<I, T> {
    fn from(items: Vec<T>) -> Self {
        Self {
            items,
            id: PhantomData,
        }
    }
}

impl<'a, I, T> IntoIterator for &'a IdVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<I, T> FromIterator<T> for IdVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(iter: It) -> Self {
        iter.into_iter().collect::<Vec<T>>().into()
    }
}

impl<I, T> Default for IdVec<I, T> {
    fn default() -> Self {
        Vec::new().into()
    }
}

impl<I: Id, T> Index<I> for IdVec<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, i: I) -> &T {
        &self.items[i.index()]
    }
}

impl<I: Id, T> IndexMut<I> for IdVec<I, T> {
    #[inline]
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.items[i.index()]
    }
}
