//! Minimum-cost flow by successive shortest paths with node potentials (Dijkstra on reduced
//! costs), stopping as soon as no path from source to sink lowers the total cost: the flow
//! returned has the least cost of any flow, of whatever size.
//!
//! Deterministic: edges are scanned in insertion order and ties in the heap break by node.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Debug)]
struct Edge {
    to: usize,
    cap: i64,
    cost: i64,
}

/// A flow network. Edges come in pairs: edge `2k` forward, `2k + 1` its residual.
pub struct Network {
    edges: Vec<Edge>,
    adj: Vec<Vec<usize>>,
}

impl Network {
    /// A network of `n` nodes and no edges.
    pub fn new(n: usize) -> Network {
        Network {
            edges: Vec::new(),
            adj: vec![Vec::new(); n],
        }
    }

    /// Adds an edge; returns its id, for [`Network::flow_on`].
    pub fn add_edge(&mut self, from: usize, to: usize, cap: i64, cost: i64) -> usize {
        let id = self.edges.len();
        self.edges.push(Edge { to, cap, cost });
        self.edges.push(Edge {
            to: from,
            cap: 0,
            cost: -cost,
        });
        self.adj[from].push(id);
        self.adj[to].push(id + 1);
        id
    }

    /// The flow on an edge.
    pub fn flow_on(&self, id: usize) -> i64 {
        self.edges[id + 1].cap
    }

    /// Sends flow from `s` to `t` while doing so lowers the cost. The graph must have no
    /// cycle of negative cost (a bipartite transport network has none). Returns the cost.
    pub fn min_cost_flow(&mut self, s: usize, t: usize) -> i128 {
        let n = self.adj.len();
        let mut potential = self.bellman_ford(s);
        let mut total: i128 = 0;
        let mut dist = vec![i64::MAX; n];
        let mut via = vec![usize::MAX; n];
        loop {
            // Dijkstra on reduced costs, which potentials keep non-negative.
            dist.fill(i64::MAX);
            via.fill(usize::MAX);
            dist[s] = 0;
            let mut heap = BinaryHeap::new();
            heap.push(Reverse((0i64, s)));
            while let Some(Reverse((d, u))) = heap.pop() {
                if d > dist[u] {
                    continue;
                }
                // Nothing farther than the sink matters to this path; the potentials below
                // treat every node not settled yet as being as far as the sink.
                if u == t {
                    break;
                }
                for &e in &self.adj[u] {
                    let edge = &self.edges[e];
                    if edge.cap <= 0 || potential[edge.to] == i64::MAX {
                        continue;
                    }
                    let reduced = edge.cost + potential[u] - potential[edge.to];
                    let nd = d.saturating_add(reduced);
                    if nd < dist[edge.to] {
                        dist[edge.to] = nd;
                        via[edge.to] = e;
                        heap.push(Reverse((nd, edge.to)));
                    }
                }
            }
            if dist[t] == i64::MAX {
                return total;
            }
            // Nodes not settled count as exactly as far as the sink. Reduced costs stay
            // non-negative: an edge out of a settled node u relaxed its head to at most
            // d(u) + its reduced cost; an edge out of an unsettled node gains d(t), and its
            // head gains no more than that.
            let reach = dist[t];
            for v in 0..n {
                if potential[v] != i64::MAX {
                    potential[v] += dist[v].min(reach);
                }
            }
            // The path's cost in real terms: stop once it no longer pays.
            let path_cost = potential[t] - potential[s];
            if path_cost >= 0 {
                return total;
            }
            let mut push = i64::MAX;
            let mut v = t;
            while v != s {
                let e = via[v];
                push = push.min(self.edges[e].cap);
                v = self.edges[e ^ 1].to;
            }
            let mut v = t;
            while v != s {
                let e = via[v];
                self.edges[e].cap -= push;
                self.edges[e ^ 1].cap += push;
                v = self.edges[e ^ 1].to;
            }
            total += i128::from(push) * i128::from(path_cost);
        }
    }

    /// Shortest distances from `s` over edges with capacity (negative costs allowed);
    /// unreachable nodes get `i64::MAX`.
    fn bellman_ford(&self, s: usize) -> Vec<i64> {
        let n = self.adj.len();
        let mut dist = vec![i64::MAX; n];
        dist[s] = 0;
        for _ in 0..n {
            let mut changed = false;
            for u in 0..n {
                if dist[u] == i64::MAX {
                    continue;
                }
                for &e in &self.adj[u] {
                    let edge = &self.edges[e];
                    if edge.cap > 0 && dist[u] + edge.cost < dist[edge.to] {
                        dist[edge.to] = dist[u] + edge.cost;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        dist
    }
}
