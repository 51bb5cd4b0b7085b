#!/usr/bin/env python3
"""Choose RobustScanner's default strategy order from measured per-frame results.

Input: JSON lines from `qrpos bench scan --strategy-report --json --seed S` (one line a frame,
every strategy's outcome and milliseconds on it). The script simulates the budgeted scan the
scanner does (strategies in order, the first always, the others only while their typical cost
still fits the budget; the first read ends the frame), then searches orders: a greedy start (the
strategy reading most of the frames still missed per millisecond), then moves of one strategy to
another place while the total read grows.

Tune on some seeds, judge on others:
  tools/strategy-order.py --train 1.jsonl 2.jsonl --test 7.jsonl 99.jsonl [--budget 30] [--lanes 1|2]
      [--exact] [--first region-halve,region-axis] [--current ORDER]
"""
import argparse, json, statistics, sys

def load(paths):
    frames = []
    for p in paths:
        with open(p) as f:
            for line in f:
                if not line.startswith("{"):
                    continue  # the report's table after the JSON lines
                d = json.loads(line)
                if d.get("bench") != "scan-strategies":
                    continue
                if d["category"].startswith("noCode"):
                    continue
                res = {k: v for k, v in d.items() if isinstance(v, list) and len(v) == 2}
                frames.append((d["size"], d["category"], d.get("finder_ms", 0.0), res))
    return frames

def typical_costs(frames):
    by = {}
    for size, _, _, res in frames:
        for s, (_, ms) in res.items():
            by.setdefault((size, s), []).append(ms)
    return {k: statistics.median(v) for k, v in by.items()}

# How the scanner runs a budgeted frame: 1 lane, or 2 (even places of the order on one core,
# odd places on the other; a frame is read when either lane reads it). Set by --lanes.
LANES = 1
# Whether a strategy's estimated cost is its typical cost (the median over frames of that size,
# the default) or what it really took on that frame (--exact: the scanner's per-pixel estimate
# is closer to this for large regions).
EXACT = False

def lane_reads(lane, size, finder, res, costs, budget):
    elapsed = finder
    for i, s in enumerate(lane):
        outcome, ms = res[s]
        estimate = ms if EXACT else costs[(size, s)]
        if i > 0 and elapsed + estimate > budget:
            continue
        elapsed += ms
        if outcome == "read":
            return True
        if outcome != "missed":  # a misread ends the frame wrongly
            return False
    return False

def simulate(order, frames, costs, budget):
    lanes = [order[i::LANES] for i in range(LANES)]
    return sum(1 for size, _, finder, res in frames
               if any(lane_reads(lane, size, finder, res, costs, budget) for lane in lanes))

def greedy(strategies, frames, costs):
    order, left = [], list(range(len(frames)))
    pool = list(strategies)
    while pool:
        def score(s):
            gain = sum(1 for i in left if frames[i][3][s][0] == "read")
            cost = statistics.mean(frames[i][3][s][1] for i in left) if left else 1
            return gain / max(cost, 0.05)
        best = max(pool, key=score)
        order.append(best)
        pool.remove(best)
        left = [i for i in left if frames[i][3][best][0] != "read"]
    return order

def search(order, frames, costs, budget, fixed=0):
    best = simulate(order, frames, costs, budget)
    improved = True
    while improved:
        improved = False
        for i in range(fixed, len(order)):
            for j in range(fixed, len(order)):
                if i == j:
                    continue
                cand = order[:]
                s = cand.pop(i)
                cand.insert(j, s)
                v = simulate(cand, frames, costs, budget)
                if v > best:
                    order, best, improved = cand, v, True
    return order, best

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="*", default=[])
    ap.add_argument("--budget", type=float, default=30)
    ap.add_argument("--current", help="comma-separated order to compare with")
    ap.add_argument("--lanes", type=int, choices=[1, 2], default=2, help="lanes the scanner runs a frame in (default 2)")
    ap.add_argument("--exact", action="store_true", help="estimate each strategy's cost by what it took on the frame")
    ap.add_argument("--first", help="comma-separated strategies kept first, in this order (e.g. region-halve,region-axis)")
    a = ap.parse_args()
    global LANES, EXACT
    LANES, EXACT = a.lanes, a.exact
    train = load(a.train)
    costs = typical_costs(train + load(a.test))
    strategies = sorted(train[0][3].keys())
    first = a.first.split(",") if a.first else []
    start = first + [s for s in greedy(strategies, train, costs) if s not in first]
    order, best = search(start, train, costs, a.budget, fixed=len(first))
    print("order:", ",".join(order))
    print(f"train: {best}/{len(train)} = {100*best/len(train):.1f}%")
    for p in a.test:
        t = load([p])
        v = simulate(order, t, costs, a.budget)
        line = f"test {p}: {v}/{len(t)} = {100*v/len(t):.1f}%"
        if a.current:
            c = simulate(a.current.split(","), t, costs, a.budget)
            line += f"  (current order {100*c/len(t):.1f}%)"
        print(line)

if __name__ == "__main__":
    sys.exit(main())
