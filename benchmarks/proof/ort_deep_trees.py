"""Where onnxruntime's TreeEnsemble fails (onnxruntime #25400): set size or tree depth.

Each shape is loaded in a child process (a segfault kills only the child) and its routing is
checked: ``python benchmarks/proof/ort_deep_trees.py``. Measured with onnxruntime 1.32.0 on a
2-core AMD EPYC, ``ulimit -s`` 8192: one BRANCH_MEMBER set of up to 2**24 members loads and
routes exactly (1.5 GiB at 2**24); a chain of 10,750 splits loads and 10,900 segfaults in
session creation, BRANCH_MEMBER or BRANCH_LEQ alike. conversion/converter/emit_trees.py's MAX_TREE_DEPTH
comes from this.
"""

from __future__ import annotations

import subprocess
import sys

CHILD = r'''
import sys
import numpy as np, onnx, onnxruntime as ort
from onnx import helper, numpy_helper
depth, members, mode = (int(a) for a in sys.argv[1:4])
# One tree: split d sends members {d, d + depth, ...} (or x <= d) to leaf d, the rest to split d + 1.
values = []
for d in range(depth):
    values += [*(np.arange(members) * depth + d).tolist(), np.nan]
true_leaf = np.arange(depth)
false_node = np.r_[np.arange(1, depth), depth]  # the last split's false side is leaf `depth`
node = helper.make_node(
    "TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", n_targets=1, aggregate_function=1, post_transform=0,
    tree_roots=[0], nodes_featureids=[0] * depth,
    nodes_splits=numpy_helper.from_array(np.arange(depth, dtype=np.float32)),
    nodes_modes=numpy_helper.from_array(np.full(depth, mode, np.uint8)),
    nodes_truenodeids=true_leaf.tolist(), nodes_falsenodeids=false_node.tolist(),
    nodes_trueleafs=[1] * depth, nodes_falseleafs=[0] * (depth - 1) + [1],
    nodes_missing_value_tracks_true=[0] * depth, leaf_targetids=[0] * (depth + 1),
    leaf_weights=numpy_helper.from_array(np.arange(depth + 1, dtype=np.float32)),
    **({"membership_values": numpy_helper.from_array(np.asarray(values, np.float32))} if mode == 6 else {}))
graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [None, 1])],
                          [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [None, 1])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
model.ir_version = 10
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
x = np.array([0, depth - 1, (members - 1) * depth, -1], np.float32)[:, None]
want = np.array([0, depth - 1, 0 if mode == 6 else depth, depth if mode == 6 else 0], np.float32)
print("exact" if np.array_equal(session.run(None, {"X": x})[0][:, 0], want) else "WRONG")
'''

SHAPES = [(1, 2**k, 6) for k in (10, 16, 20, 24)] + [(d, 2, m) for d in (8000, 10750, 10900) for m in (6, 0)]


def main() -> None:
    for depth, members, mode in SHAPES:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(depth), str(members), str(mode)],
                              capture_output=True, text=True, check=False)
        outcome = proc.stdout.strip() or f"crashed (exit {proc.returncode})"
        kind = "BRANCH_MEMBER" if mode == 6 else "BRANCH_LEQ"
        print(f"depth {depth:>6}  {kind:<13}  {members:>9} members per set  {outcome}")


if __name__ == "__main__":
    main()
