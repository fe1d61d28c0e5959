"""The ARERec model in Keras 3 (docs/reference.md §3).

Shapes: B batch, L = max_seq neighbours, R = region_size, d = emb_size, H = num_head, C classes.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from arerec.config import (
    DROPOUT_MAX_BITS,
    DROPOUT_SLOTS,
    REGULARIZER_SLOTS,
    Config,
    DropoutRates,
    L2Rates,
    dropout_bits,
)

PACKAGE = "arerec"
REGION_MODES = ("reference", "window")


def _l2(rate: float) -> keras.regularizers.Regularizer | None:
    return keras.regularizers.L2(rate) if rate > 0 else None


# The layers whose tables a batch reads by row: what ``table_l2`` penalises (:class:`RowSquares`).
TABLE_LAYERS = ("user_embedding", "item_embedding", "k_iu", "k_ui")


class RowSquares:
    """Mixin for a layer that looks rows of its table up: with ``collect_squares`` on, each training call adds
    the squared norms of the rows it looked up, padding ids (0) left out, to ``squares`` (a scalar tensor of
    the call's trace). The training step sets ``collect_squares``, reads and resets ``squares`` around its
    forward pass (:func:`take_squares`) and adds ``table_l2 / B * sum`` to the loss.

    The squares are taken of the rows the layer has already gathered, so the term costs no second gather
    and its gradient joins the cross-entropy's before the gather's: the tables' sparse gradients keep
    their size. Off (the default), the call is exactly the layer's own.

    ``row_gather`` (None: ``ops.take``) is a backend's own lookup ``(table, ids) -> rows`` whose gradient is
    row-sparse: the PyTorch trainer sets it (:func:`arerec.train.backends.torch.sparse_gather`), since
    PyTorch's gradient of ``index_select`` is a dense table. The rows it returns are the same.
    """

    collect_squares = False
    squares = None
    row_gather = None

    def _take(self, table, ids):
        return ops.take(table, ids, axis=0) if self.row_gather is None else self.row_gather(table, ids)

    def _collect(self, ids, rows, training) -> None:
        if not (self.collect_squares and training):
            return
        per_id = ops.sum(ops.square(rows), axis=tuple(range(len(ids.shape), len(rows.shape))))  # ids' shape
        total = ops.sum(per_id * ops.cast(ops.not_equal(ids, 0), per_id.dtype))
        self.squares = total if self.squares is None else self.squares + total


@keras.saving.register_keras_serializable(package=PACKAGE)
class TableEmbedding(RowSquares, layers.Embedding):
    """``keras.layers.Embedding`` whose lookups ``table_l2`` can penalise (:class:`RowSquares`)."""

    def call(self, inputs, training=None):
        outputs = super().call(inputs) if self.row_gather is None else self._take(self.embeddings, inputs)
        self._collect(inputs, outputs, training)
        return outputs


@keras.saving.register_keras_serializable(package=PACKAGE)
class NeighbourAttention(layers.Layer):
    """Personalise each neighbour for the target user with multi-head attention.

    q = Wq e_u, k_n = Wk e_n, v_n = Wv e_n, split into H heads of size d/H. Per head,
    a_n = softmax_n(q . k_n / sqrt(d/H)) over the L positions, with padding masked by -1e9.
    Each neighbour's value is scaled by its weight (no sum over positions); the heads are
    concatenated and projected: e'_n = Wo [a_n^1 v_n^1; ...; a_n^H v_n^H].

    Args:
        emb_size: d, the embedding size.
        num_head: H; d must be divisible by H.
        regularizer_rates: L2 rates for [Wq, Wk, Wv, Wo]; 0 means none.

    Call inputs: ``user`` [B, d], ``neighbours`` [B, L, d], ``mask`` [B, L] (1 = real neighbour).
    Returns: ``(personalised [B, L, d], weights [B, H, L])``.
    """

    def __init__(self, emb_size: int, num_head: int, regularizer_rates=(0.0, 0.0, 0.0, 0.0), **kwargs):
        super().__init__(**kwargs)
        if num_head < 1:
            raise ValueError(f"num_head must be >= 1, received: {num_head}")
        if emb_size % num_head:
            raise ValueError(f"emb_size must be divisible by num_head, received: emb_size={emb_size}, num_head={num_head}")
        self.emb_size = emb_size
        self.num_head = num_head
        self.regularizer_rates = [float(r) for r in regularizer_rates]

    def build(self, input_shape=None):
        d = self.emb_size
        rq, rk, rv, ro = self.regularizer_rates
        self.wq = layers.Dense(d, kernel_regularizer=_l2(rq), name="wq")
        self.wk = layers.Dense(d, kernel_regularizer=_l2(rk), name="wk")
        self.wv = layers.Dense(d, kernel_regularizer=_l2(rv), name="wv")
        self.wo = layers.Dense(d, kernel_regularizer=_l2(ro), name="wo")
        self.wq.build((None, d))
        self.wk.build((None, None, d))
        self.wv.build((None, None, d))
        self.wo.build((None, None, d))

    def _split_heads(self, x):
        # [B, L, d] -> [B, H, L, d/H]
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_head, self.emb_size // self.num_head))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, user, neighbours, mask):
        head = self.emb_size // self.num_head
        q = ops.reshape(self.wq(user), (-1, self.num_head, 1, head))  # [B, H, 1, d/H]
        k = self._split_heads(self.wk(neighbours))  # [B, H, L, d/H]
        v = self._split_heads(self.wv(neighbours))  # [B, H, L, d/H]
        scores = ops.sum(q * k, axis=-1) / ops.sqrt(ops.cast(head, k.dtype))  # [B, H, L]
        mask = ops.cast(mask, scores.dtype)[:, None, :]  # [B, 1, L]
        scores = scores + (1.0 - mask) * -1e9
        weights = ops.softmax(scores, axis=-1)  # [B, H, L]
        scaled = weights[..., None] * v  # [B, H, L, d/H]
        scaled = ops.transpose(scaled, (0, 2, 1, 3))  # [B, L, H, d/H]
        shape = ops.shape(scaled)
        concat = ops.reshape(scaled, (shape[0], shape[1], self.emb_size))  # [B, L, d]
        return self.wo(concat), weights

    def compute_output_spec(self, user, neighbours, mask):
        b, length = neighbours.shape[0], neighbours.shape[1]
        return (
            keras.KerasTensor((b, length, self.emb_size), dtype=neighbours.dtype),
            keras.KerasTensor((b, self.num_head, length), dtype=neighbours.dtype),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "emb_size": self.emb_size,
            "num_head": self.num_head,
            "regularizer_rates": self.regularizer_rates,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class RegionEmbedding(RowSquares, layers.Layer):
    """Local context units: one (R x d) matrix per (item, neighbour) interaction.

    ``mode='reference'`` (the code): profile[b, l, t] = K[lcu[b, l], t] . e[b, l], so every
    row t of the unit meets the same embedding. ``e`` is either per neighbour [B, L, d] (the
    user side, K_IU) or one vector [B, d] shared by every position (the item side, K_UI).

    ``mode='window'`` (the paper's figure, after Qiao et al., ICLR 2018): row t meets the
    neighbour at relative position t - R//2 in the window around l,
    profile[b, l, t] = K[lcu[b, l], t] . e[b, l + t - R//2], with zeros outside the sequence.
    For a shared [B, d] embedding the two modes are the same.

    Args:
        num_lcu: LCU ids, including the padding id 0.
        region_size: R.
        emb_size: d.
        dropout: rate applied to the gathered LCU matrices [B, L, R, d].
        stddev: the table is initialised N(0, stddev), 0.01 in the reference.
        mode: 'reference' or 'window'.
        rows: rows of the table, >= num_lcu (default num_lcu). Rows past num_lcu are zeros that no id
            reads, so that a table sharded over a mesh axis divides evenly (:meth:`ARERec.get_layout_map`);
            the first num_lcu rows are drawn exactly as without them.

    Call inputs: ``lcu_ids`` [B, L] int, ``embedding`` [B, L, d] or [B, d].
    Returns: [B, L, R].
    """

    def __init__(self, num_lcu: int, region_size: int, emb_size: int, dropout: float = 0.0, stddev: float = 0.01,
                 mode: str = "reference", rows: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in REGION_MODES:
            raise ValueError(f"mode must be one of {REGION_MODES}, received: {mode!r}")
        self.mode = mode
        if region_size < 1:
            raise ValueError(f"region_size must be >= 1, received: {region_size}")
        if num_lcu < 1:
            raise ValueError(f"num_lcu must be >= 1, received: {num_lcu}")
        self.num_lcu = num_lcu
        self.rows = num_lcu if rows is None else int(rows)
        if self.rows < num_lcu:
            raise ValueError(f"rows must be >= num_lcu ({num_lcu}), received: {rows}")
        self.region_size = region_size
        self.emb_size = emb_size
        self.dropout = float(dropout)
        self.stddev = float(stddev)

    def build(self, input_shape=None):
        self.table = self.add_weight(
            name="table",
            shape=(self.rows, self.region_size, self.emb_size),
            initializer=_ZeroPadded(keras.initializers.RandomNormal(stddev=self.stddev), self.num_lcu),
        )
        self.drop = BitDropout(self.dropout) if self.dropout > 0 else None

    def call(self, lcu_ids, embedding, training=None):
        units = self._take(self.table, lcu_ids)  # [B, L, R, d]
        self._collect(lcu_ids, units, training)
        if self.drop is not None:
            units = self.drop(units, training=training)
        if len(embedding.shape) == 2:
            return ops.einsum("blrd,bd->blr", units, embedding)  # [B, L, R]
        if self.mode == "window":
            return ops.einsum("blrd,blrd->blr", units, self._windows(embedding))  # [B, L, R]
        return ops.einsum("blrd,bld->blr", units, embedding)  # [B, L, R]

    def _windows(self, embedding):
        """[B, L, d] -> [B, L, R, d]: entry (l, t) is the embedding at l + t - R//2 (0 outside)."""
        centre = self.region_size // 2
        length = embedding.shape[1]
        padded = ops.pad(embedding, ((0, 0), (centre, self.region_size - 1 - centre), (0, 0)))
        return ops.stack([padded[:, t : t + length] for t in range(self.region_size)], axis=2)

    def compute_output_spec(self, lcu_ids, embedding, training=None):
        return keras.KerasTensor((lcu_ids.shape[0], lcu_ids.shape[1], self.region_size), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_lcu": self.num_lcu,
            "region_size": self.region_size,
            "emb_size": self.emb_size,
            "dropout": self.dropout,
            "stddev": self.stddev,
            "mode": self.mode,
            "rows": self.rows,
        }


class _ZeroPadded(keras.initializers.Initializer):
    """``base`` drawn for the first ``rows`` rows of the shape, zeros below them."""

    def __init__(self, base: keras.initializers.Initializer, rows: int):
        self.base, self.rows = base, rows

    def __call__(self, shape, dtype=None):
        value = self.base((self.rows, *shape[1:]), dtype=dtype)
        if shape[0] == self.rows:
            return value
        return ops.pad(value, ((0, shape[0] - self.rows),) + ((0, 0),) * (len(shape) - 1))


@keras.saving.register_keras_serializable(package=PACKAGE)
class BitDropout(layers.Layer):
    """Dropout whose keep mask is drawn from ``n`` random bits per element.

    y = x * keep / (1 - rate), keep ~ Bernoulli(1 - rate) independently per element, as
    ``keras.layers.Dropout``. When ``rate`` is k / 2^n for some n <= 8 (0.5, 0.25, 0.125, ...), each
    element's keep decision is an n-bit field of a random 30-bit integer (kept when the field is >= k), so
    one random word serves 30 // n elements and the distribution is exact. Any other rate falls back to
    ``keras.layers.Dropout``.

    Why: under XLA on a CPU, drawing one random float per element costs about 1.6 s for a
    [128, 73, 7, 64] tensor, the LCU lookups of an ML-100K batch (``keras.random.uniform``, TensorFlow
    2.21), while the bit fields take about 37 ms (docs/decisions.md). The random stream differs from
    ``Dropout``'s; the model does not.

    ``reread``: the consumer reads each element many times, as the region embedding's einsum reads a
    [B, L, d] embedding once for each of its R rows. XLA fuses the mask into that consumer and recomputes it
    there, so each element indexes its own word and shift rather than reshaping [..., W, P] to [..., d]. The
    mask is the same; only the cost differs (docs/decisions.md, 42).

    Input: any shape [..., d]. Output: the same shape.
    """

    MAX_BITS = DROPOUT_MAX_BITS
    WORD_BITS = 30  # randint over [0, 2^30): a power of two, so every bit is uniform

    def __init__(self, rate: float, seed: int | None = None, reread: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.reread = bool(reread)
        if not 0 <= rate < 1:
            raise ValueError(f"rate must be in [0, 1), received: {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.bits = dropout_bits(self.rate)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.fallback = layers.Dropout(self.rate, seed=seed) if self.bits is None and self.rate > 0 else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.fallback is not None:
            return self.fallback(inputs, training=training)
        n, per_word = self.bits, self.WORD_BITS // self.bits
        lead, d = tuple(ops.shape(inputs)[:-1]), inputs.shape[-1]
        words = -(-d // per_word)
        draws = keras.random.randint(lead + (words,), 0, 2**self.WORD_BITS, dtype="int32",
                                     seed=self.seed_generator)  # [..., W]
        if self.reread:  # element j's field is bits [s, s + n) of word j // P, s = (j % P) * n: the same fields
            column = np.arange(d)
            word = ops.take(draws, ops.convert_to_tensor(column // per_word, dtype="int32"), axis=-1)  # [..., d]
            shift = ops.convert_to_tensor((column % per_word) * n, dtype="int32")  # [d]
            fields = ops.bitwise_and(ops.right_shift(word, shift), 2**n - 1)  # [..., d]
        else:
            shifts = ops.arange(per_word, dtype="int32") * n  # [P]
            fields = ops.bitwise_and(ops.right_shift(draws[..., None], shifts), 2**n - 1)  # [..., W, P]
            fields = ops.reshape(fields, lead + (words * per_word,))[..., :d]  # [..., d]
        keep = ops.greater_equal(fields, int(round(self.rate * 2**n)))
        return ops.where(keep, inputs / (1.0 - self.rate), ops.zeros_like(inputs))

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "reread": self.reread}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PaddingMask(layers.Layer):
    """1.0 where a neighbour id is real, 0.0 where it is padding (id 0): [B, L] int -> [B, L] float."""

    def call(self, ids):
        return ops.cast(ops.not_equal(ids, 0), self.compute_dtype)

    def compute_output_spec(self, ids):
        return keras.KerasTensor(ids.shape, dtype=self.compute_dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class NeighbourRating(layers.Layer):
    """rating[b, l] = p[b, l] * q[b, l] * mask[b, l]: [B, L, R] x [B, L, R] x [B, L] -> [B, L, R].

    Max-pooled over L afterwards. As in the reference, padding gives zeros (not -inf), so for
    items with fewer than L neighbours every pooled feature is floored at 0.
    """

    def call(self, user_profile, item_profile, mask):
        return user_profile * item_profile * ops.cast(mask, user_profile.dtype)[..., None]

    def compute_output_spec(self, user_profile, item_profile, mask):
        return keras.KerasTensor(user_profile.shape, dtype=user_profile.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ARERec(keras.Model):
    """The functional ARERec classifier built by :func:`build_model`, with its sharding plan.

    :meth:`get_layout_map` is what ``distribution: model`` uses (arerec/train/distribution.py), as
    keras-hub backbones provide theirs.
    """

    LCU_TABLES = r".*k_(iu|ui)/table"  # the two LCU tables, [rows, R, d]: ~all of the parameters

    @classmethod
    def get_layout_map(cls, device_mesh, model_axis: str = "model") -> keras.distribution.LayoutMap:
        """Shard both LCU tables by row over ``model_axis`` of ``device_mesh``; everything else is replicated.

        Their Adam moments follow (Keras gives an optimiser variable its reference variable's layout),
        so a table and its optimiser state take 1/n of their bytes per device, n the axis' size. The
        tables' rows must divide by n: :func:`build_model` pads them (``lcu_rows``).
        """
        layout_map = keras.distribution.LayoutMap(device_mesh)
        layout_map[cls.LCU_TABLES] = (model_axis, None, None)
        return layout_map


def _dropout(rate: float, name: str, reread: bool = False):
    return BitDropout(rate, reread=reread, name=name) if rate > 0 else (lambda x, training=None: x)


def build_model(
    cfg: Config,
    *,
    num_users: int,
    num_items: int,
    num_lcu: int,
    num_classes: int,
    max_seq: int,
    lcu_rows: int | None = None,
) -> ARERec:
    """The ARERec classifier: inputs user, item, neighbours and lcu ids; output class probabilities.

    Users and neighbours share one embedding table (num_users + 1, d); items have their own.
    ``lcu_rows`` (>= num_lcu) pads the LCU tables with zero rows that no id reads (see
    :class:`RegionEmbedding`), so that they shard evenly.
    """
    if max_seq < 1:
        raise ValueError(f"max_seq must be >= 1, received: {max_seq}")
    d = cfg.model.emb_size
    rates = cfg.model.dropout if cfg.model.use_dropout else DropoutRates(**dict.fromkeys(DROPOUT_SLOTS, 0.0))
    l2 = cfg.model.regularizer if cfg.model.use_regularizer else L2Rates(**dict.fromkeys(REGULARIZER_SLOTS, 0.0))
    inputs = {"user": keras.Input(shape=(), dtype="int32", name="user"),
              "item": keras.Input(shape=(), dtype="int32", name="item"),
              "neighbours": keras.Input(shape=(max_seq,), dtype="int32", name="neighbours"),
              "lcu": keras.Input(shape=(max_seq,), dtype="int32", name="lcu")}
    user_in, item_in, neigh_in = inputs["user"], inputs["item"], inputs["neighbours"]

    user_table = TableEmbedding(num_users + 1, d, name="user_embedding")
    item_table = TableEmbedding(num_items + 1, d, name="item_embedding")
    mask = PaddingMask(name="padding_mask")(neigh_in)  # [B, L]

    e_user = _dropout(rates.user_emb, "drop_user_emb", reread=True)(user_table(user_in))  # [B, d]
    e_neigh = _dropout(rates.neighbour_emb, "drop_neighbour_emb", reread=True)(user_table(neigh_in))  # [B, L, d]
    e_item = _dropout(rates.item_emb, "drop_item_emb", reread=True)(item_table(item_in))  # [B, d]

    if cfg.model.use_attention:
        attention = NeighbourAttention(d, cfg.model.num_head, regularizer_rates=(l2.q, l2.k, l2.v, l2.concat),
                                       name="neighbour_attention")
        e_neigh, weights = attention(e_user, e_neigh, mask)  # [B, L, d], [B, H, L]
    else:
        weights = None  # the target user never enters the model: an item-only model

    lcu_tables = {"num_lcu": num_lcu, "region_size": cfg.model.region_size, "emb_size": d, "rows": lcu_rows}
    pooled = _local_ratings(cfg, rates, lcu_tables, inputs["lcu"], e_neigh, e_item, mask)  # [B, R]
    probs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=_l2(l2.fc), name="classifier")(pooled)
    model = ARERec(inputs, probs, name="arerec")
    model.attention_model = keras.Model(inputs, weights, name="arerec_attention") if weights is not None else None
    return model


def parameter_count(cfg: Config, *, num_users: int, num_items: int, num_lcu: int, num_classes: int) -> int:
    """The weights :func:`build_model` gives ``cfg`` (without ``lcu_rows``' padding), counted without building it:
    the user and item tables, the two LCU tables (``num_lcu`` x R x d each), attention's four d x d projections with
    their biases when it is on, and the classifier (R -> classes). ``tests/model`` holds it to ``count_params``."""
    d, r = cfg.model.emb_size, cfg.model.region_size
    attention = 4 * (d * d + d) if cfg.model.use_attention else 0
    return (num_users + 1 + num_items + 1) * d + 2 * num_lcu * r * d + attention + (r + 1) * num_classes


def _local_ratings(cfg: Config, rates: DropoutRates, tables: dict, lcu_in, e_neigh, e_item, mask):
    """The region embeddings of the neighbours (K_IU) and of the item (K_UI), their LCU profiles, the neighbours'
    ratings and the rating vector max-pooled over them: [B, R]."""
    k_iu = RegionEmbedding(**tables, dropout=rates.k_iu, mode=cfg.model.region_mode, name="k_iu")
    k_ui = RegionEmbedding(**tables, dropout=rates.k_ui, name="k_ui")
    user_profile = _dropout(rates.neighbour_profile, "drop_neighbour_profile")(k_iu(lcu_in, e_neigh))  # [B, L, R]
    item_profile = _dropout(rates.item_profile, "drop_item_profile")(k_ui(lcu_in, e_item))  # [B, L, R]
    rating = NeighbourRating(name="neighbour_rating")(user_profile, item_profile, mask)  # [B, L, R]
    rating = _dropout(rates.neighbour_rating, "drop_neighbour_rating")(rating)
    pooled = layers.GlobalMaxPooling1D(name="max_pool")(rating)  # [B, R]
    return _dropout(rates.user_rating_vector, "drop_user_rating_vector")(pooled)


def attention_weights(model: keras.Model, inputs: dict) -> keras.KerasTensor | None:
    """[B, H, L] attention weights for a batch, or None when attention is off."""
    sub = getattr(model, "attention_model", None)
    if sub is None:
        layer = next((lay for lay in model.layers if isinstance(lay, NeighbourAttention)), None)
        if layer is None:
            return None
        sub = keras.Model(model.inputs, layer.output[1])
        model.attention_model = sub
    return sub(inputs, training=False)



def table_layers(model: keras.Model) -> list:
    """The :data:`TABLE_LAYERS` of a model: user/neighbour and item embeddings, K_IU, K_UI."""
    return [model.get_layer(name) for name in TABLE_LAYERS]


def start_squares(model: keras.Model) -> list:
    """Turn on :class:`RowSquares` collection in the model's table layers (``table_l2`` > 0); returns them."""
    tables = table_layers(model)
    for layer in tables:
        layer.collect_squares, layer.squares = True, None
    return tables


def take_squares(tables: list):
    """The squared norms the training call's lookups collected, summed over the tables; resets them."""
    total = sum((layer.squares for layer in tables if layer.squares is not None), start=0.0)
    for layer in tables:
        layer.squares = None
    return total
