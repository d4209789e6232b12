//! Where ranks run: rank → (node, GPU in node) → NIC.
//!
//! Nodes have `g` GPUs in one scale-up (NVLink) domain and one NIC per GPU; GPU `i` of every node
//! uses NIC `i` of that node, i.e. rail `i`. The NIC index returned by [`Placement::nic`] is the
//! GPU slot `node · g + i`, the caller maps it to a fabric host.

/// Errors building a [`Placement`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlacementError {
    /// `gpus_per_node` was zero.
    #[error("gpus_per_node must be at least 1")]
    ZeroGpusPerNode,
    /// A slot was used by two ranks.
    #[error("GPU slot {slot} is used by two ranks")]
    DuplicateSlot {
        /// The slot.
        slot: u32,
    },
}

/// Rank → GPU slot mapping.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Placement {
    gpus_per_node: u32,
    /// `slots[rank]`; empty means identity (rail-aligned default).
    slots: Vec<u32>,
}

impl Placement {
    /// Rail-aligned default: rank `r` runs on node `r / g`, GPU (and NIC/rail) `r % g`.
    pub fn rail_aligned(gpus_per_node: u32) -> Result<Self, PlacementError> {
        if gpus_per_node == 0 {
            return Err(PlacementError::ZeroGpusPerNode);
        }
        Ok(Self {
            gpus_per_node,
            slots: Vec::new(),
        })
    }

    /// Explicit mapping: `slots[rank]` is the GPU slot (`node · g + gpu`) of `rank`.
    pub fn from_slots(gpus_per_node: u32, slots: Vec<u32>) -> Result<Self, PlacementError> {
        if gpus_per_node == 0 {
            return Err(PlacementError::ZeroGpusPerNode);
        }
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(PlacementError::DuplicateSlot { slot: w[0] });
        }
        Ok(Self {
            gpus_per_node,
            slots,
        })
    }

    /// GPUs (and NICs) per node, g.
    pub const fn gpus_per_node(&self) -> u32 {
        self.gpus_per_node
    }

    /// GPU slot of a rank; ranks beyond an explicit mapping fall back to identity.
    pub fn slot(&self, rank: u32) -> u32 {
        self.slots.get(rank as usize).copied().unwrap_or(rank)
    }

    /// NIC index of a rank (equal to its GPU slot: one NIC per GPU).
    pub fn nic(&self, rank: u32) -> u32 {
        self.slot(rank)
    }

    /// Node of a rank.
    pub fn node(&self, rank: u32) -> u32 {
        self.slot(rank) / self.gpus_per_node
    }

    /// Rail (GPU/NIC index inside its node) of a rank.
    pub fn rail(&self, rank: u32) -> u32 {
        self.slot(rank) % self.gpus_per_node
    }

    /// True when two ranks share a scale-up domain (node), so a transfer between them stays off
    /// the scale-out fabric.
    pub fn same_scale_up(&self, a: u32, b: u32) -> bool {
        self.node(a) == self.node(b)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn rail_aligned_maps_gpu_to_rail() {
        let p = Placement::rail_aligned(8).unwrap();
        assert_eq!((p.node(13), p.rail(13), p.nic(13)), (1, 5, 13));
        assert!(p.same_scale_up(8, 15));
        assert!(!p.same_scale_up(7, 8));
    }

    #[test]
    fn explicit_slots() {
        let p = Placement::from_slots(2, vec![0, 2, 1, 3]).unwrap();
        assert!(!p.same_scale_up(0, 2) || p.node(0) == p.node(2));
        assert_eq!(p.node(1), 1);
        assert_eq!(
            Placement::from_slots(2, vec![1, 1]),
            Err(PlacementError::DuplicateSlot { slot: 1 })
        );
        assert_eq!(
            Placement::rail_aligned(0),
            Err(PlacementError::ZeroGpusPerNode)
        );
    }
}
