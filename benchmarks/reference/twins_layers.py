"""PyTorch twins of mkt's layers (src/layers/*, src/models/features.ts), written for
benchmarks/twins.ts: the same parameters under mkt's logical names and shapes (a Dense kernel is
[in, out], as in mkt), the same arithmetic in the same order of operations, so that mkt's initial
weights load by name and both sides compute the same loss on the same batch.

Every Block keeps its tensors in `mkt` (logical name -> parameter or buffer). Initial values are
not drawn here: the worker loads mkt's. Moving statistics (Dice, partitioned normalization) are
buffers, updated in "train" mode outside autograd, as mkt's state variables are.
"""
import torch
import torch.nn.functional as F
from torch import nn

SOURCE, TARGET = "source", "target"
ENTITIES = (SOURCE, TARGET)


class Block(nn.Module):
    """A module whose tensors carry mkt's logical names, `<module name>/<local name>`."""

    def __init__(self, name):
        super().__init__()
        self.name = name
        self.mkt = {}

    def scoped(self, local):
        return f"{self.name}/{local}"

    def param(self, local, shape):
        p = nn.Parameter(torch.zeros(shape))
        self.register_parameter(f"p{len(self.mkt)}", p)
        self.mkt[self.scoped(local)] = p
        return p

    def state(self, local, shape):
        attr = f"s{len(self.mkt)}"
        self.register_buffer(attr, torch.zeros(shape))
        self.mkt[self.scoped(local)] = attr  # resolved through getattr: buffers are replaced by copy_ only, but keep it safe
        return attr

    def mkt_tensors(self):
        """Every parameter and buffer of this block and its children, by mkt's logical name."""
        out = {}
        for module in self.modules():
            if isinstance(module, Block):
                for name, t in module.mkt.items():
                    if name in out:
                        raise ValueError(f"duplicate parameter name {name}")
                    out[name] = getattr(module, t) if isinstance(t, str) else t
        return out


def activate(x, activation):
    if activation == "relu":
        return torch.relu(x)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


class Dense(Block):
    """act(x W + b), kernel [in, out] (src/layers/dense.ts)."""

    def __init__(self, name, inputs, units, activation="none", bias=True):
        super().__init__(name)
        self.inputs, self.units, self.activation = inputs, units, activation
        self.kernel = self.param("kernel", [inputs, units])
        self.bias = self.param("bias", [units]) if bias else None

    def forward(self, x):
        flat = x if x.dim() == 2 else x.reshape(-1, self.inputs)
        y = torch.addmm(self.bias, flat, self.kernel) if self.bias is not None else flat @ self.kernel
        y = activate(y, self.activation)
        return y if x.dim() == 2 else y.reshape(*x.shape[:-1], self.units)


class MovingMoments(Block):
    """src/layers/moving-moments.ts: batch moments in training (moving averages move toward them), moving averages at prediction."""

    def __init__(self, name, size, momentum=0.9):
        super().__init__(name)
        self.momentum = momentum
        self.mean_attr = self.state("moving_mean", [size])
        self.var_attr = self.state("moving_variance", [size])

    def moments(self, x, mode, weights=None):
        moving_mean, moving_var = getattr(self, self.mean_attr), getattr(self, self.var_attr)
        if mode == "predict":
            return moving_mean, moving_var
        flat = x.reshape(-1, x.shape[-1])
        if weights is None:
            mean = flat.mean(0)
            variance = (flat - mean).square().mean(0)
        else:
            w = weights.reshape(-1, 1)
            count = torch.clamp(w.sum(), min=1.0)
            mean = (flat * w).sum(0) / count
            variance = ((flat - mean).square() * w).sum(0) / count
        m = self.momentum
        with torch.no_grad():
            moving_mean.mul_(m).add_(mean.detach() * (1 - m))
            moving_var.mul_(m).add_(variance.detach() * (1 - m))
        return mean, variance


class Dice(Block):
    """DIN's Dice (src/layers/dice.ts): s * (alpha + p * (1 - alpha)), p = sigmoid((s - E[s]) / sqrt(Var[s] + eps))."""

    def __init__(self, name, size, epsilon=1e-8):
        super().__init__(name)
        self.epsilon = epsilon
        self.alpha = self.param("alpha", [size])
        self.moments = MovingMoments(self.scoped("moments"), size)

    def forward(self, s, mode, mask=None):
        mean, variance = self.moments.moments(s, mode, mask)
        p = torch.sigmoid((s - mean) / torch.sqrt(variance + self.epsilon))
        return s * (self.alpha + p * (1 - self.alpha))


class Mlp(Block):
    """Dense layers dense0, dense1, ... with one activation; with Dice, linear layers then dice<l>."""

    def __init__(self, name, inputs, sizes, activation="relu"):
        super().__init__(name)
        layers, dice = [], []
        for i, units in enumerate(sizes):
            layers.append(Dense(self.scoped(f"dense{i}"), inputs, units, "none" if activation == "dice" else activation))
            inputs = units
        self.layers = nn.ModuleList(layers)
        self.dice = nn.ModuleList([Dice(self.scoped(f"dice{i}"), u) for i, u in enumerate(sizes)]) if activation == "dice" else None
        self.output_size = inputs

    def forward(self, x, mode=None, mask=None):
        for l in range(len(self.layers)):
            x = self.layer(l, x, mode, mask)
        return x

    def layer(self, l, x, mode=None, mask=None):
        y = self.layers[l](x)
        return y if self.dice is None else self.dice[l](y, mode, mask)

    def activate(self, l, pre, mode=None, mask=None):
        if self.dice is None:
            return activate(pre, self.layers[l].activation)
        return self.dice[l](pre, mode, mask)


class Tower(Block):
    """Hidden layers then Dense(1): one logit per row [B]."""

    def __init__(self, name, inputs, hidden, activation="relu"):
        super().__init__(name)
        self.hidden = Mlp(self.scoped("hidden"), inputs, hidden, activation)
        self.out = Dense(self.scoped("logit"), self.hidden.output_size, 1)

    def forward(self, x, mode=None):
        return self.out(self.hidden(x, mode)).reshape(-1)


class DinAttention(Block):
    """DIN's activation unit (src/layers/din-attention.ts), its first layer split as mkt computes it:
    [q, k, q-k, q*k] W = q (Wq + Wd) + k (Wk - Wd) + (q*k) Wp; scores masked, no softmax."""

    def __init__(self, name, dim, hidden, activation="relu"):
        super().__init__(name)
        self.mlp = Mlp(self.scoped("mlp"), 4 * dim, hidden, activation)
        self.score = Dense(self.scoped("score"), self.mlp.output_size, 1)

    def forward(self, query, keys, mask, values, mode=None):
        scores = self.score(self.hidden(query, keys, mask, mode)).squeeze(2)
        weights = scores * mask
        return torch.bmm(weights.unsqueeze(1), values).squeeze(1)

    def hidden(self, query, keys, mask, mode):
        first = self.mlp.layers[0]
        batch, length, dim = keys.shape
        wq, wk, wd, wp = torch.split(first.kernel, dim, 0)
        flat_keys = keys.reshape(-1, dim)
        products = (query.unsqueeze(1) * keys).reshape(-1, dim)
        per_key = (flat_keys @ (wk - wd) + products @ wp).reshape(batch, length, first.units)
        per_row = query @ (wq + wd)
        if first.bias is not None:
            per_row = per_row + first.bias
        h = self.mlp.activate(0, per_key + per_row.unsqueeze(1), mode, mask)
        for l in range(1, len(self.mlp.layers)):
            h = self.mlp.layer(l, h, mode, mask)
        return h


def masked_mean_pool(x, mask):
    total = (x * mask.unsqueeze(2)).sum(1)
    count = torch.clamp(mask.sum(1, keepdim=True), min=1.0)
    return total / count


class Rows:
    """A batch's rows: source rows first, then target rows (as mkt's batchToTensors orders them)."""

    def __init__(self, batch, rows):
        self.batch = batch
        size, source = batch["size"], batch["source"]
        self.begin, self.count = {"all": (0, size), SOURCE: (0, source), TARGET: (source, size - source)}[rows]
        self.whole = self.begin == 0 and self.count == size

    def take(self, t):
        return t if self.whole else t.narrow(0, self.begin, self.count)


class FrontEnd(Block):
    """src/models/features.ts: one embedding table per wanted column; v_u, v_shared, v_spec^e, sequences and their pooling."""

    def __init__(self, name, schema, dim, specific_entities=ENTITIES, pooling="attention", attention_hidden=(36,)):
        super().__init__(name)
        self.dim = dim
        columns = lambda group: [f["column"] for f in schema["features"] if f["group"] == group]
        self.user_columns, self.shared_columns = columns("user"), columns("shared")
        self.specific_columns = {e: schema["entities"][e]["specificColumns"] for e in ENTITIES}
        self.specific_entities = set(specific_entities)
        self.sequences = []
        for seq in schema["sequences"]:
            by_column = {column: element for element, column in seq["elements"].items()}
            keys = [(by_column[c], c) for c in self.shared_columns]
            others = [(el, c) for el, c in seq["elements"].items() if c not in self.shared_columns]
            self.sequences.append({"name": seq["name"], "elements": keys + others, "key_width": len(keys) * dim})
        wanted = set(self.user_columns + self.shared_columns)
        for e in self.specific_entities:
            wanted.update(self.specific_columns[e])
        for seq in self.sequences:
            wanted.update(c for _, c in seq["elements"][len(self.shared_columns):])
        self.tables = {}
        for f in schema["features"]:
            if f["column"] in wanted:
                self.tables[f["column"]] = self.param(f"emb/{f['column']}/table", [f["vocabSize"], dim])
        self.user_size = len(self.user_columns) * dim
        self.shared_size = len(self.shared_columns) * dim
        self.seq_size = sum(len(s["elements"]) * dim for s in self.sequences)
        self.encoders = None
        if pooling == "attention":
            self.encoders = nn.ModuleDict(
                {s["name"]: DinAttention(self.scoped(f"{s['name']}_attention"), self.shared_size, attention_hidden) for s in self.sequences}
            )

    def specific_count(self, entity):
        return len(self.specific_columns[entity])

    def element_columns(self, name):
        return [c for _, c in next(s for s in self.sequences if s["name"] == name)["elements"]]

    def columns(self, rows, columns):
        """Embeddings of `columns` of `rows`, concatenated [n, len(columns) * E] (mkt stacks then reshapes: the same values)."""
        features = rows.batch["features"]
        parts = [F.embedding(rows.take(features[c]), self.tables[c]) for c in columns]
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)

    def user(self, rows):
        return self.columns(rows, self.user_columns)

    def shared(self, rows):
        return self.columns(rows, self.shared_columns)

    def specific(self, rows, entity):
        """v_spec^e [n, n_spec, E]."""
        return self.columns(rows, self.specific_columns[entity]).reshape(rows.count, -1, self.dim)

    def sequence(self, rows, name):
        """(keys [n, L, shared*E], values [n, L, elements*E], mask [n, L])."""
        layout = next(s for s in self.sequences if s["name"] == name)
        seq = rows.batch["sequences"][name]
        parts = [F.embedding(rows.take(seq["ids"][element]), self.tables[column]) for element, column in layout["elements"]]
        values = parts[0] if len(parts) == 1 else torch.cat(parts, 2)
        keys = values if layout["key_width"] == values.shape[2] else values[:, :, : layout["key_width"]]
        return keys, values, rows.take(seq["mask"])

    def pooled_sequences(self, rows, query):
        pooled = []
        for s in self.sequences:
            keys, values, mask = self.sequence(rows, s["name"])
            if self.encoders is None:
                pooled.append(masked_mean_pool(values, mask))
            else:
                pooled.append(self.encoders[s["name"]](query, keys, mask, values))
        return torch.cat(pooled, 1)


def dense_input_size(fe, specific):
    return fe.user_size + fe.seq_size + fe.shared_size + sum(fe.specific_count(e) * fe.dim for e in specific)


def dense_input(fe, rows, specific, pool=None):
    """[v_u | v_seq | v_shared | flatten(v_spec^e) for e in specific] (src/models/baselines/common.ts)."""
    shared = fe.shared(rows)
    spec = [fe.specific(rows, e).reshape(rows.count, -1) for e in specific]
    seq = pool(shared) if pool is not None else fe.pooled_sequences(rows, shared)
    return torch.cat([fe.user(rows), seq, shared, *spec], 1)


class Senet(Block):
    def __init__(self, name, fields, ratio):
        super().__init__(name)
        reduced = max(1, fields // ratio)
        self.reduce = Dense(self.scoped("reduce"), fields, reduced, "relu", bias=False)
        self.expand = Dense(self.scoped("expand"), reduced, fields, "relu", bias=False)

    def forward(self, fields):
        weights = self.expand(self.reduce(fields.mean(2)))
        return fields * weights.unsqueeze(2)


class BilinearInteraction(Block):
    """FiBiNet's field-all bilinear interaction: p_ij = (v_i W) * v_j for i < j, in mkt's pair order.
    mkt picks the pairs with two 0/1 matmuls (tfjs slices are slow); here by index, PyTorch's natural way."""

    def __init__(self, name, dim, fields):
        super().__init__(name)
        self.dim = dim
        self.w = self.param("w", [dim, dim])
        pairs = [(i, j) for i in range(fields) for j in range(i + 1, fields)]
        self.register_buffer("left", torch.tensor([i for i, _ in pairs]), persistent=False)
        self.register_buffer("right", torch.tensor([j for _, j in pairs]), persistent=False)

    def forward(self, fields):
        projected = (fields.reshape(-1, self.dim) @ self.w).reshape(fields.shape)
        return projected.index_select(1, self.left) * fields.index_select(1, self.right)


class CgcLevel(Block):
    """src/layers/cgc.ts: entity experts on the task input, shared experts on the shared input, softmax gates."""

    def __init__(self, name, inputs, expert_sizes, shared_experts=1, entity_experts=1, shared_gate=False):
        super().__init__(name)
        expert = lambda local: Mlp(self.scoped(local), inputs, expert_sizes)
        gate = lambda local: Dense(self.scoped(local), inputs, entity_experts + shared_experts)
        self.shared_experts = nn.ModuleList([expert(f"shared_expert{i}") for i in range(shared_experts)])
        self.entity_experts = nn.ModuleDict({e: nn.ModuleList([expert(f"{e}_expert{i}") for i in range(entity_experts)]) for e in ENTITIES})
        self.gates = nn.ModuleDict({e: gate(f"{e}_gate") for e in ENTITIES})
        self.shared_gate = gate("shared_gate") if shared_gate else None
        self.output_size = expert_sizes[-1]

    def forward(self, entity, task, shared):
        experts = torch.stack([*(e(task) for e in self.entity_experts[entity]), *(e(shared) for e in self.shared_experts)], 1)
        gate = torch.softmax(self.gates[entity](task), -1)
        out_task = torch.bmm(gate.unsqueeze(1), experts).squeeze(1)
        out_shared = None
        if self.shared_gate is not None:
            shared_gate = torch.softmax(self.shared_gate(shared), -1)
            out_shared = torch.bmm(shared_gate.unsqueeze(1), experts).squeeze(1)
        return out_task, out_shared


class Ple(Block):
    def __init__(self, name, inputs, level_sizes, shared_experts, entity_experts):
        super().__init__(name)
        levels = []
        for i, size in enumerate(level_sizes):
            levels.append(CgcLevel(self.scoped(f"level{i}"), inputs, [size], shared_experts, entity_experts, i < len(level_sizes) - 1))
            inputs = size
        self.levels = nn.ModuleList(levels)
        self.output_size = inputs

    def forward(self, entity, x):
        task, shared = x, x
        for level in self.levels:
            task, next_shared = level(entity, task, shared)
            shared = next_shared if next_shared is not None else task
        return task


class PartitionedNorm(Block):
    def __init__(self, name, size, epsilon=1e-3):
        super().__init__(name)
        self.epsilon = epsilon
        self.scale = self.param("scale", [size])
        self.shift = self.param("shift", [size])
        self.moments = nn.ModuleDict()
        self.own = {}
        for e in ENTITIES:
            self.moments[e] = MovingMoments(self.scoped(e), size)
            self.own[e] = (self.param(f"{e}_scale", [size]), self.param(f"{e}_shift", [size]))

    def forward(self, x, entity, mode):
        mean, variance = self.moments[entity].moments(x, mode)
        scale, shift = self.own[entity]
        normalized = (x - mean) / torch.sqrt(variance + self.epsilon)
        return normalized * (self.scale * scale) + (self.shift + shift)


class StarFcn(Block):
    def __init__(self, name, inputs, sizes):
        super().__init__(name)
        self.layers = []
        for l, units in enumerate(sizes):
            linear = lambda part: (self.param(f"layer{l}/{part}_kernel", [inputs, units]), self.param(f"layer{l}/{part}_bias", [units]))
            self.layers.append({"shared": linear("shared"), SOURCE: linear(SOURCE), TARGET: linear(TARGET)})
            inputs = units
        self.output_size = inputs

    def forward(self, x, entity):
        h = x
        for layer in self.layers:
            (wk, wb), (ok, ob) = layer["shared"], layer[entity]
            h = torch.relu(torch.addmm(wb + ob, h, wk * ok))
        return h


class CrossNetwork(Block):
    def __init__(self, name, inputs, layers):
        super().__init__(name)
        self.layers = [(self.param(f"w{l}", [inputs, 1]), self.param(f"b{l}", [inputs])) for l in range(layers)]

    def forward(self, x0):
        x = x0
        for w, b in self.layers:
            x = x0 * (x @ w) + b + x
        return x


class Glu(Block):
    def __init__(self, name, inputs, outputs):
        super().__init__(name)
        self.value = Dense(self.scoped("value"), inputs, outputs)
        self.gate = Dense(self.scoped("gate"), inputs, outputs, "sigmoid")

    def forward(self, x):
        return self.value(x) * self.gate(x)


def cosine_similarity(a, b, eps=1e-8):
    dot = (a * b).sum(-1)
    norm = lambda x: torch.sqrt(x.square().sum(-1) + eps)
    return dot / (norm(a) * norm(b))
