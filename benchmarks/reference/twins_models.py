"""PyTorch twins of mkt's models (src/models/**), stage by stage, on twins_layers.py: each builds the
same parameters under the same names as the mkt model it twins and computes the same loss and
prediction. `build(recipe, stage, schema, sizes, sections)` returns the twin of one training stage
(`sections`: the models' own spec sections, e.g. sections["mmoe"]["experts"]).

A twin's loss(batch) is the mkt model's loss; predict(batch) its predictTarget (every row read
through the target path, in "predict" mode). Batches come from the TS side with source rows first.
"""
import torch
import torch.nn.functional as F
from torch import nn

from twins_layers import (
    ENTITIES,
    SOURCE,
    TARGET,
    BilinearInteraction,
    Block,
    CgcLevel,
    CrossNetwork,
    Dense,
    DinAttention,
    FrontEnd,
    Glu,
    Mlp,
    PartitionedNorm,
    Ple,
    Rows,
    Senet,
    StarFcn,
    Tower,
    cosine_similarity,
    dense_input,
    dense_input_size,
)


def bce(logits, labels, reduction="mean"):
    return F.binary_cross_entropy_with_logits(logits, labels, reduction=reduction)


class SingleDomain(Block):
    """src/models/baselines/common.ts SingleDomainModel: BCE on the target rows; predictions of every row."""

    def loss(self, batch):
        rows = Rows(batch, TARGET)
        return bce(self.logits(rows, "train"), rows.take(batch["label"]))

    def predict(self, batch):
        return torch.sigmoid(self.logits(Rows(batch, "all"), "predict"))


class Joint(Block):
    """JointModel: each entity's rows through its own path, mean BCE over all rows; predictions through the target path."""

    def loss(self, batch):
        parts = [self.logits(Rows(batch, e), e, "train") for e in ENTITIES if Rows(batch, e).count > 0]
        logits = parts[0] if len(parts) == 1 else torch.cat(parts)
        per_row = bce(logits, batch["label"], "none")
        # mkt also logs each entity's mean BCE (two means of the same rows).
        for e in ENTITIES:
            rows = Rows(batch, e)
            if rows.count > 0:
                rows.take(per_row).mean()
        return per_row.mean()

    def predict(self, batch):
        return torch.sigmoid(self.logits(Rows(batch, "all"), TARGET, "predict"))


class EntityModel(Block):
    """common.ts EntityModel: BCE on its entity's rows; predictions of every row through its only path."""

    def __init__(self, name, entity):
        super().__init__(name)
        self.entity = entity

    def loss(self, batch):
        rows = Rows(batch, self.entity)
        return bce(self.logits(rows), rows.take(batch["label"]))

    def predict(self, batch):
        return torch.sigmoid(self.logits(Rows(batch, "all")))


class MlpTwin(SingleDomain):
    def __init__(self, name, schema, sizes):
        super().__init__(name)
        self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], [TARGET], "mean")
        self.mlp = Mlp(self.scoped("mlp"), dense_input_size(self.fe, [TARGET]), sizes["mlp"])
        self.tower = Tower(self.scoped("tower"), self.mlp.output_size, sizes["tower"])

    def logits(self, rows, mode):
        return self.tower(self.mlp(dense_input(self.fe, rows, [TARGET])))


class DinTwin(SingleDomain):
    def __init__(self, name, schema, sizes):
        super().__init__(name)
        fe = self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], [TARGET], "mean")
        candidate = set(fe.specific_columns[TARGET])
        self.units = nn.ModuleDict()
        self.item_columns = {}
        for seq in schema["sequences"]:
            others = fe.element_columns(seq["name"])[len(fe.shared_columns):]
            items = others if others and all(c in candidate for c in others) else []
            dim = fe.shared_size + len(items) * fe.dim
            self.units[seq["name"]] = DinAttention(self.scoped(f"{seq['name']}_attention"), dim, sizes["attention"], "dice")
            self.item_columns[seq["name"]] = items
        self.mlp = Mlp(self.scoped("mlp"), dense_input_size(fe, [TARGET]), sizes["mlp"], "dice")
        self.tower = Tower(self.scoped("tower"), self.mlp.output_size, sizes["tower"], "dice")

    def attention(self, rows, shared, mode):
        pooled = []
        for seq, unit in self.units.items():
            keys, values, mask = self.fe.sequence(rows, seq)
            items = self.item_columns[seq]
            query = torch.cat([shared, self.fe.columns(rows, items)], 1) if items else shared
            pooled.append(unit(query, values if items else keys, mask, values, mode))
        return torch.cat(pooled, 1)

    def logits(self, rows, mode):
        x = dense_input(self.fe, rows, [TARGET], lambda shared: self.attention(rows, shared, mode))
        return self.tower(self.mlp(x, mode), mode)


class FibinetTwin(SingleDomain):
    def __init__(self, name, schema, sizes, fibinet):
        super().__init__(name)
        E = sizes["embedding_dim"]
        self.fe = FrontEnd(self.scoped("features"), schema, E, [TARGET], "mean")
        F_ = self.fields = dense_input_size(self.fe, [TARGET]) // E
        self.senet = Senet(self.scoped("senet"), F_, fibinet["senet_reduction"])
        self.bilinear = BilinearInteraction(self.scoped("bilinear"), E, F_)
        self.senet_bilinear = BilinearInteraction(self.scoped("senet_bilinear"), E, F_)
        self.mlp = Mlp(self.scoped("mlp"), F_ * (F_ - 1) * E, sizes["mlp"])
        self.tower = Tower(self.scoped("tower"), self.mlp.output_size, sizes["tower"])

    def logits(self, rows, mode):
        n = rows.count
        fields = dense_input(self.fe, rows, [TARGET]).reshape(n, self.fields, self.fe.dim)
        original = self.bilinear(fields).reshape(n, -1)
        reweighted = self.senet_bilinear(self.senet(fields)).reshape(n, -1)
        return self.tower(self.mlp(torch.cat([original, reweighted], 1)))


class MmoeTwin(Joint):
    def __init__(self, name, schema, sizes, mmoe):
        super().__init__(name)
        self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], ENTITIES, "attention", sizes["attention"])
        self.experts = CgcLevel(self.scoped("mmoe"), dense_input_size(self.fe, ENTITIES), sizes["mlp"], mmoe["experts"], 0)
        self.towers = nn.ModuleDict({e: Tower(self.scoped(f"tower_{e}"), self.experts.output_size, sizes["tower"]) for e in ENTITIES})

    def logits(self, rows, entity, mode):
        x = dense_input(self.fe, rows, ENTITIES)
        return self.towers[entity](self.experts(entity, x, x)[0])


class PleTwin(Joint):
    def __init__(self, name, schema, sizes):
        super().__init__(name)
        self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], ENTITIES, "attention", sizes["attention"])
        self.ple = Ple(self.scoped("ple"), dense_input_size(self.fe, ENTITIES), sizes["cke_levels"], sizes["cke_shared_experts"], sizes["cke_entity_experts"])
        self.towers = nn.ModuleDict({e: Tower(self.scoped(f"tower_{e}"), self.ple.output_size, sizes["tower"]) for e in ENTITIES})

    def logits(self, rows, entity, mode):
        return self.towers[entity](self.ple(entity, dense_input(self.fe, rows, ENTITIES)))


class StarTwin(Joint):
    def __init__(self, name, schema, sizes):
        super().__init__(name)
        E = sizes["embedding_dim"]
        fe = self.fe = FrontEnd(self.scoped("features"), schema, E, ENTITIES, "attention", sizes["attention"])
        size = dense_input_size(fe, ENTITIES)
        self.norm = PartitionedNorm(self.scoped("norm"), size)
        self.fcn = StarFcn(self.scoped("fcn"), size, sizes["mlp"])
        self.towers = nn.ModuleDict({e: Tower(self.scoped(f"tower_{e}"), self.fcn.output_size, sizes["tower"]) for e in ENTITIES})
        self.indicator = self.param("entity_indicator/table", [len(ENTITIES), E])
        self.auxiliary = Tower(self.scoped("auxiliary"), E + fe.user_size + fe.shared_size, sizes["tower"])

    def logits(self, rows, entity, mode):
        x = self.norm(dense_input(self.fe, rows, ENTITIES), entity, mode)
        main = self.towers[entity](self.fcn(x, entity))
        user = self.fe.user(rows)
        indicator = self.indicator[ENTITIES.index(entity)].expand(rows.count, -1)
        return main + self.auxiliary(torch.cat([indicator, user, self.fe.shared(rows)], 1))


class ConetTwin(Joint):
    def __init__(self, name, schema, sizes):
        super().__init__(name)
        self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], ENTITIES, "attention", sizes["attention"])
        inputs = dense_input_size(self.fe, ENTITIES)
        first, rest = sizes["mlp"][0], sizes["mlp"][1:]
        self.first = nn.ModuleDict({e: Dense(self.scoped(f"{e}_net/dense0"), inputs, first, "relu") for e in ENTITIES})
        prev = sizes["mlp"]
        self.layers = nn.ModuleList(
            [nn.ModuleDict({e: Dense(self.scoped(f"{e}_net/dense{i + 1}"), prev[i], u) for e in ENTITIES}) for i, u in enumerate(rest)]
        )
        self.cross = nn.ModuleList([Dense(self.scoped(f"cross{i}"), prev[i], u, bias=False) for i, u in enumerate(rest)])
        self.towers = nn.ModuleDict({e: Tower(self.scoped(f"tower_{e}"), sizes["mlp"][-1], sizes["tower"]) for e in ENTITIES})

    def logits(self, rows, entity, mode):
        x = dense_input(self.fe, rows, ENTITIES)
        s, t = self.first[SOURCE](x), self.first[TARGET](x)
        for w, h in zip(self.layers, self.cross):
            s, t = torch.relu(w[SOURCE](s) + h(t)), torch.relu(w[TARGET](t) + h(s))
        return self.towers[entity](s if entity == SOURCE else t)


class Scorer(Block):
    def __init__(self, name, inputs, hidden):
        super().__init__(name)
        self.mlp = Mlp(self.scoped("mlp"), inputs, hidden)
        self.score = Dense(self.scoped("score"), self.mlp.output_size, 1)

    def forward(self, x):
        return self.score(self.mlp(x))


def masked_softmax(scores, mask):
    return torch.softmax(scores + (mask - 1) * 1e9, -1) * mask


class ItemAttention(Block):
    def __init__(self, name, element, key, user, hidden):
        super().__init__(name)
        first, more = hidden[0], hidden[1:]
        self.element = Dense(self.scoped("element"), element, first)
        self.product = Dense(self.scoped("product"), key, first, bias=False)
        self.context = Dense(self.scoped("context"), key + user, first, bias=False)
        self.rest = Scorer(self.scoped("rest"), first, more)

    def forward(self, keys, values, mask, query, user):
        n, L = mask.shape
        context = self.context(torch.cat([query, user], 1)).unsqueeze(1)
        hidden = torch.relu(self.element(values) + self.product(keys * query.unsqueeze(1)) + context)
        alpha = masked_softmax(self.rest(hidden).reshape(n, L), mask)
        return torch.bmm(alpha.unsqueeze(1), values).reshape(n, -1)


class MinetTwin(Joint):
    def __init__(self, name, schema, sizes):
        super().__init__(name)
        E = sizes["embedding_dim"]
        fe = self.fe = FrontEnd(self.scoped("features"), schema, E, ENTITIES, "mean")
        element_size = lambda seq: fe.shared_size + sum(1 for c in seq["elements"].values() if c not in fe.shared_columns) * E
        self.sequences = [s["name"] for s in schema["sequences"]]
        self.item_attention = nn.ModuleDict(
            {s["name"]: ItemAttention(self.scoped(f"{s['name']}_item_attention"), element_size(s), fe.shared_size, fe.user_size, sizes["attention"]) for s in schema["sequences"]}
        )
        candidate = fe.shared_size + sum(fe.specific_count(e) * E for e in ENTITIES)
        interests = [fe.user_size, *(element_size(s) for s in schema["sequences"])]
        self.interest_attention = nn.ModuleList(
            [Scorer(self.scoped(f"interest_attention{i}"), size + fe.user_size + candidate, sizes["attention"]) for i, size in enumerate(interests)]
        )
        self.mlp = Mlp(self.scoped("mlp"), sum(interests) + candidate, sizes["mlp"])
        self.towers = nn.ModuleDict({e: Tower(self.scoped(f"tower_{e}"), self.mlp.output_size, sizes["tower"]) for e in ENTITIES})

    def logits(self, rows, entity, mode):
        fe, n = self.fe, rows.count
        user, shared = fe.user(rows), fe.shared(rows)
        candidate = torch.cat([shared, *(fe.specific(rows, e).reshape(n, -1) for e in ENTITIES)], 1)
        interests = [user] + [self.item_attention[s](*fe.sequence(rows, s), shared, user) for s in self.sequences]
        scores = [a(torch.cat([i, user, candidate], 1)) for a, i in zip(self.interest_attention, interests)]
        weights = torch.softmax(torch.cat(scores, 1), -1)
        weighted = torch.cat([i * weights[:, k : k + 1] for k, i in enumerate(interests)], 1)
        return self.towers[entity](self.mlp(torch.cat([weighted, candidate], 1)))


class FinetuneTwin(EntityModel):
    def __init__(self, name, schema, sizes, entity):
        super().__init__(name, entity)
        E = sizes["embedding_dim"]
        fe = self.fe = FrontEnd(self.scoped("features"), schema, E, [entity], "attention", sizes["attention"])
        self.fc = Dense(self.scoped(f"fc_{entity}"), fe.specific_count(entity) * E, sizes["hfa_dim"], "relu")
        self.dnn = Mlp(self.scoped("dnn"), dense_input_size(fe, []) + sizes["hfa_dim"], sizes["mlp"])
        self.tower = Tower(self.scoped("tower"), self.dnn.output_size, sizes["tower"])

    def logits(self, rows):
        specific = self.fe.specific(rows, self.entity).reshape(rows.count, -1)
        return self.tower(self.dnn(torch.cat([dense_input(self.fe, rows, []), self.fc(specific)], 1)))


class CtnetSourceTwin(EntityModel):
    def __init__(self, name, schema, sizes):
        super().__init__(name, SOURCE)
        self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], [], "attention", sizes["attention"])
        self.dnn = Mlp(self.scoped("dnn"), dense_input_size(self.fe, []), sizes["mlp"])
        self.tower = Tower(self.scoped("tower"), self.dnn.output_size, sizes["tower"])

    def hidden(self, rows):
        out, h = [], dense_input(self.fe, rows, [])
        for layer in self.dnn.layers:
            h = layer(h)
            out.append(h)
        return out

    def logits(self, rows):
        return self.tower(self.hidden(rows)[-1])


class CtnetTargetTwin(EntityModel):
    def __init__(self, name, schema, sizes, source):
        super().__init__(name, TARGET)
        self.fe = FrontEnd(self.scoped("features"), schema, sizes["embedding_dim"], [TARGET], "attention", sizes["attention"])
        self.dnn = Mlp(self.scoped("dnn"), dense_input_size(self.fe, [TARGET]), sizes["mlp"])
        self.adapters = nn.ModuleList([Glu(self.scoped(f"adapter{l}"), u, u) for l, u in enumerate(sizes["mlp"])])
        self.head = Tower(self.scoped("head"), self.dnn.output_size, sizes["tower"])
        self.source = source

    def logits(self, rows):
        with torch.no_grad():  # the frozen source model, read through stopGradient in mkt
            source = self.source.hidden(rows)
        h = dense_input(self.fe, rows, [TARGET])
        for layer, adapter, s in zip(self.dnn.layers, self.adapters, source):
            h = layer(h) + adapter(s)
        return self.head(h)


class Hfa(Block):
    def __init__(self, name, fields, dim, output, cross_layers):
        super().__init__(name)
        self.fields, self.dim = fields, dim
        width = fields * dim
        self.cross = CrossNetwork(self.scoped("cross"), width, cross_layers)
        self.implicit = Dense(self.scoped("implicit"), width, width, "relu")
        self.importance = Dense(self.scoped("importance"), 2 * width, fields)
        self.align = Dense(self.scoped("align"), width, output, "relu")

    def forward(self, v_spec):
        n = v_spec.shape[0]
        x0 = v_spec.reshape(n, self.fields * self.dim)
        p = torch.sigmoid(self.importance(torch.cat([self.cross(x0), self.implicit(x0)], 1))) * 2
        return self.align((v_spec * p.unsqueeze(2)).reshape(n, self.fields * self.dim))


class MemTwin(Block):
    """src/models/mkt/mem.ts: HFA, CKE (PLE), SKE/TKE, towers; eq. 13 loss with PDL."""

    def __init__(self, name, schema, sizes, gamma, mem):
        super().__init__(name)
        self.gamma = gamma
        E = sizes["embedding_dim"]
        fe = self.fe = FrontEnd(self.scoped("features"), schema, E, ENTITIES, "attention", sizes["attention"])
        self.hfa = nn.ModuleDict({e: Hfa(self.scoped(f"hfa_{e}"), fe.specific_count(e), E, sizes["hfa_dim"], mem["hfa_cross_layers"]) for e in ENTITIES})
        context = fe.user_size + fe.seq_size + fe.shared_size
        self.cke = Ple(self.scoped("cke"), context + sizes["hfa_dim"], sizes["cke_levels"], sizes["cke_shared_experts"], sizes["cke_entity_experts"])
        self.independent = nn.ModuleDict(
            {e: Mlp(self.scoped(local), context + fe.specific_count(e) * E, sizes["mlp"]) for e, local in ((SOURCE, "ske"), (TARGET, "tke"))}
        )
        self.towers = nn.ModuleDict({e: Tower(self.scoped(f"tower_{e}"), 2 * self.cke.output_size, sizes["tower"]) for e in ENTITIES})

    def common_path(self, rows, entity):
        fe = self.fe
        user, shared = fe.user(rows), fe.shared(rows)
        seq = fe.pooled_sequences(rows, shared)
        v_spec = fe.specific(rows, entity)
        common = self.cke(entity, torch.cat([user, seq, shared, self.hfa[entity](v_spec)], 1))
        return user, seq, shared, common, v_spec

    def entity_path(self, rows, entity):
        user, seq, shared, common, v_spec = self.common_path(rows, entity)
        independent = self.independent[entity](torch.cat([user, seq, shared, v_spec.reshape(rows.count, -1)], 1))
        return common, independent, self.towers[entity](torch.cat([common, independent], 1))

    def loss(self, batch):
        bce_sums, cosines = [], []
        for e in ENTITIES:
            rows = Rows(batch, e)
            if rows.count == 0:
                continue
            common, independent, logits = self.entity_path(rows, e)
            per_row = bce(logits, rows.take(batch["label"]), "none")
            per_row.mean()  # mkt logs each entity's mean BCE
            bce_sums.append(per_row.sum())
            cosines.append(cosine_similarity(common, independent).mean())
        total = torch.stack(bce_sums).sum() / batch["size"]
        pdl = torch.stack(cosines).sum()
        return total + pdl * self.gamma if self.gamma != 0 else total

    def predict(self, batch):
        return torch.sigmoid(self.entity_path(Rows(batch, "all"), TARGET)[2])


class TemTwin(Block):
    """src/models/mkt/tem.ts (knowledge "common"): own embeddings and encoders, GLU gates on the frozen MEM's outputs."""

    def __init__(self, name, schema, sizes, mem):
        super().__init__(name)
        E = sizes["embedding_dim"]
        fe = self.fe = FrontEnd(self.scoped("features"), schema, E, [TARGET], "attention", sizes["attention"])
        self.cross = Mlp(self.scoped("cross"), fe.user_size + fe.seq_size + fe.shared_size + fe.specific_count(TARGET) * E, sizes["mlp"])
        m = mem.fe
        self.gates = nn.ModuleDict(
            {
                "user": Glu(self.scoped("glu_user"), m.user_size, fe.user_size),
                "seq": Glu(self.scoped("glu_seq"), m.seq_size, fe.seq_size),
                "shared": Glu(self.scoped("glu_shared"), m.shared_size, fe.shared_size),
                "common": Glu(self.scoped("glu_common"), mem.cke.output_size, self.cross.output_size),
            }
        )
        self.head = Tower(self.scoped("head"), self.cross.output_size, sizes["tower"])
        self.mem = mem

    def logits(self, rows):
        fe = self.fe
        with torch.no_grad():  # MEM is frozen; mkt reads its outputs through stopGradient
            user_m, seq_m, shared_m, common_m, _ = self.mem.common_path(rows, TARGET)
        shared = fe.shared(rows)
        v_spec = fe.specific(rows, TARGET).reshape(rows.count, -1)
        x = torch.cat(
            [fe.user(rows) + self.gates["user"](user_m), fe.pooled_sequences(rows, shared) + self.gates["seq"](seq_m), shared + self.gates["shared"](shared_m), v_spec],
            1,
        )
        return self.head(self.cross(x) + self.gates["common"](common_m))

    def loss(self, batch):
        rows = Rows(batch, TARGET)
        return bce(self.logits(rows), rows.take(batch["label"]))

    def predict(self, batch):
        return torch.sigmoid(self.logits(Rows(batch, "all")))


SINGLE_STAGE = {
    "mlp": lambda schema, sizes, sections: MlpTwin("mlp", schema, sizes),
    "din": lambda schema, sizes, sections: DinTwin("din", schema, sizes),
    "fibinet": lambda schema, sizes, sections: FibinetTwin("fibinet", schema, sizes, sections["fibinet"]),
    "mmoe": lambda schema, sizes, sections: MmoeTwin("mmoe", schema, sizes, sections["mmoe"]),
    "ple": lambda schema, sizes, sections: PleTwin("ple", schema, sizes),
    "star": lambda schema, sizes, sections: StarTwin("star", schema, sizes),
    "conet": lambda schema, sizes, sections: ConetTwin("conet", schema, sizes),
    "minet": lambda schema, sizes, sections: MinetTwin("minet", schema, sizes),
}


def build(recipe, stage, schema, sizes, sections):
    """The twin of `recipe`'s training stage `stage`, named as mkt names its model."""
    if recipe in SINGLE_STAGE and stage == "train":
        return SINGLE_STAGE[recipe](schema, sizes, sections)
    if recipe == "finetune" and stage in ("pretrain", "finetune"):
        return FinetuneTwin("finetune", schema, sizes, SOURCE if stage == "pretrain" else TARGET)
    if recipe == "ctnet" and stage in ("source", "target"):
        source = CtnetSourceTwin("ctnet_source", schema, sizes)
        return source if stage == "source" else CtnetTargetTwin("ctnet", schema, sizes, source)
    if recipe == "mkt" and stage in ("pretrain", "finetune"):
        mem = MemTwin("mem", schema, sizes, sections["gamma"], sections["mem"])
        return mem if stage == "pretrain" else TemTwin("tem", schema, sizes, mem)
    raise ValueError(f"no twin for {recipe} stage {stage}")
