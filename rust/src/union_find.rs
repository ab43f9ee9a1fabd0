//! Disjoint sets over row indices, labelled deterministically: every row gets the smallest row index
//! of its set, so a singleton's label is its own index.

/// Most rows a [`UnionFind`] (and so a clustering) accepts: links are u32, which halves the memory that
/// union-find touches at random.
pub const MAX_ROWS: usize = u32::MAX as usize - 1;

/// Disjoint sets over `0..n` for `n <=` [`MAX_ROWS`], with path halving. A union links the larger root
/// under the smaller, so every root is the smallest element of its set and every link points to a
/// smaller element: the labels come out of one forward pass, and no rank array is touched at random.
pub(crate) struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        debug_assert!(n <= MAX_ROWS);
        Self {
            parent: (0..n).map(|i| i as u32).collect(),
        }
    }

    fn find(&mut self, x: usize) -> usize {
        let mut x = x;
        loop {
            let parent = self.parent[x] as usize;
            if parent == x {
                return x;
            }
            let grandparent = self.parent[parent];
            self.parent[x] = grandparent;
            x = grandparent as usize;
        }
    }

    pub(crate) fn same(&mut self, a: usize, b: usize) -> bool {
        self.find(a) == self.find(b)
    }

    /// Joins the sets of `a` and `b`; false if they were already one.
    pub(crate) fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child] = root as u32;
        true
    }

    /// Each element's label: the smallest element of its set, i.e. its root. Links point to smaller
    /// elements, so a label is its parent's label, already known.
    pub(crate) fn labels(self) -> Vec<i64> {
        let mut labels = Vec::with_capacity(self.parent.len());
        for (i, &parent) in self.parent.iter().enumerate() {
            let label = if parent as usize == i {
                i as i64
            } else {
                labels[parent as usize]
            };
            labels.push(label);
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_smallest_members() {
        let mut sets = UnionFind::new(6);
        sets.union(5, 3);
        sets.union(3, 4);
        sets.union(2, 1);
        assert!(!sets.union(4, 5));
        assert!(sets.same(3, 5) && !sets.same(0, 1));
        assert_eq!(sets.labels(), vec![0, 1, 1, 3, 3, 3]);
    }
}
