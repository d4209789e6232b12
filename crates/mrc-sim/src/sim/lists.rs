//! Small per-node lists packed into one buffer.

/// A list of `u32` per owner (a NIC's endpoints), all in one buffer: the event loop reads a
/// NIC's list on every transmit opportunity, and a separately allocated vector per NIC cost a
/// cache miss each time. Lists only grow; a full one moves to the end of the buffer with twice
/// the room (the old room is left unused, as a vector's reallocation would free it).
#[derive(Debug, Default)]
pub(super) struct Lists {
    /// Per owner: (start in `buf`, length, room).
    spans: Vec<(u32, u32, u32)>,
    buf: Vec<u32>,
}

impl Lists {
    /// `owners` empty lists.
    pub(super) fn new(owners: usize) -> Self {
        Self {
            spans: vec![(0, 0, 0); owners],
            buf: Vec::new(),
        }
    }

    /// The list of `owner`.
    pub(super) fn get(&self, owner: u32) -> &[u32] {
        let (start, len, _) = self.spans[owner as usize];
        &self.buf[start as usize..(start + len) as usize]
    }

    /// Appends `v` to the list of `owner`.
    pub(super) fn push(&mut self, owner: u32, v: u32) {
        let (start, len, room) = &mut self.spans[owner as usize];
        if *len == *room {
            let at = self.buf.len();
            self.buf
                .extend_from_within(*start as usize..(*start + *len) as usize);
            *room = (*room * 2).max(2);
            self.buf.resize(at + *room as usize, 0);
            *start = at as u32;
        }
        self.buf[(*start + *len) as usize] = v;
        *len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_their_order_as_they_grow() {
        let mut l = Lists::new(3);
        for i in 0..10 {
            l.push(1, i);
            if i % 3 == 0 {
                l.push(0, 100 + i);
            }
        }
        assert_eq!(l.get(1), (0..10).collect::<Vec<_>>());
        assert_eq!(l.get(0), [100, 103, 106, 109]);
        assert!(l.get(2).is_empty());
    }
}
