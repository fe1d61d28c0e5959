"""arerec.model.layers: shapes, padding, the region embedding's product, dropout, config round trips, save and reload."""

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from arerec.config import Config
from arerec.model.layers import (
    NeighbourAttention,
    PaddingMask,
    RegionEmbedding,
    attention_weights,
    build_model,
    parameter_count,
)

B, L, NUM_USERS, NUM_ITEMS, NUM_LCU = 4, 6, 20, 10, 40


def make(cfg: Config) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_model(cfg, num_users=NUM_USERS, num_items=NUM_ITEMS, num_lcu=NUM_LCU, num_classes=5, max_seq=L)


def batch(n=B, seed=0):
    rng = np.random.default_rng(seed)
    neighbours = rng.integers(1, NUM_USERS + 1, (n, L)).astype("int32")
    neighbours[:, -2:] = 0  # padding at the end, as the reference pads
    lcu = np.where(neighbours > 0, rng.integers(1, NUM_LCU, (n, L)), 0).astype("int32")
    return {"user": rng.integers(1, NUM_USERS + 1, n).astype("int32"),
            "item": rng.integers(1, NUM_ITEMS + 1, n).astype("int32"), "neighbours": neighbours, "lcu": lcu}


SMALL = dict(emb_size=8, num_head=2, region_size=3)


def test_output_is_a_distribution_and_attention_ignores_padding():
    model = make(Config(**SMALL))
    x = batch()
    probs = to_numpy(model(x))
    assert probs.shape == (B, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    weights = to_numpy(attention_weights(model, x))
    assert weights.shape == (B, 2, L)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(weights[:, :, -2:] < 1e-6)


@pytest.mark.parametrize("attention, emb, region, mode", [(1, 8, 3, "reference"), (1, 16, 5, "window"),
                                                          (0, 8, 3, "reference"), (0, 16, 1, "window")])
def test_parameter_count_is_what_the_built_model_holds(attention, emb, region, mode):
    """The size a study's choice weighs (validation_search.choose_within) is the built model's, counted without it."""
    cfg = Config().replace(use_attention=attention, emb_size=emb, region_size=region, region_mode=mode, num_head=2)
    counted = parameter_count(cfg, num_users=NUM_USERS, num_items=NUM_ITEMS, num_lcu=NUM_LCU, num_classes=5)
    assert counted == make(cfg).count_params()


def test_a_batch_of_one_row_works():
    """The reference's tf.squeeze without an axis broke here."""
    model = make(Config(**{**SMALL, "region_size": 1}))
    assert to_numpy(model(batch(1))).shape == (1, 5)


def test_region_embedding_is_a_per_interaction_matrix_product():
    layer = RegionEmbedding(num_lcu=3, region_size=2, emb_size=2)
    layer.build()
    table = np.arange(3 * 2 * 2, dtype="float32").reshape(3, 2, 2)
    layer.table.assign(table)
    ids = np.array([[1, 2]], dtype="int32")
    per_neighbour = np.array([[[1.0, 0.0], [0.0, 1.0]]], dtype="float32")  # [1, 2, d]
    out = to_numpy(layer(ids, per_neighbour))
    np.testing.assert_allclose(out, [[table[1] @ [1, 0], table[2] @ [0, 1]]])
    shared = np.array([[1.0, 2.0]], dtype="float32")  # [1, d], the item side
    np.testing.assert_allclose(to_numpy(layer(ids, shared)), [[table[1] @ [1, 2], table[2] @ [1, 2]]])


def test_attention_off_is_an_item_only_model():
    model = make(Config(**SMALL, use_attention=0))
    x = batch(2)
    x["item"][:] = 3
    x["neighbours"][1] = x["neighbours"][0]
    x["lcu"][1] = x["lcu"][0]
    x["user"] = np.array([1, 7], dtype="int32")
    probs = to_numpy(model(x))
    np.testing.assert_allclose(probs[0], probs[1])  # the target user never enters the model
    assert attention_weights(model, x) is None


def test_dropout_and_l2_work_as_switched():
    plain = make(Config(**SMALL))
    assert plain.losses == []
    regular = make(Config(**SMALL, use_regularizer=1))
    assert len(regular.losses) == 5  # q, k, v, concat, fc
    dropped = make(Config(**SMALL, use_dropout=1, dropout=[0.5] * 9))
    x = batch()
    assert np.array_equal(to_numpy(dropped(x, training=False)), to_numpy(dropped(x, training=False)))
    assert not np.array_equal(to_numpy(dropped(x, training=True)), to_numpy(dropped(x, training=False)))


@pytest.mark.parametrize(
    "layer",
    [NeighbourAttention(8, 2, regularizer_rates=(0.1, 0.0, 0.0, 0.2)), RegionEmbedding(5, 3, 8, dropout=0.5),
     PaddingMask()],
)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_saved_model_reloads_and_predicts_the_same(tmp_path):
    model = make(Config(**SMALL, use_dropout=1, use_regularizer=1))
    x = batch()
    path = tmp_path / "arerec.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(again(x)), to_numpy(model(x)), rtol=1e-6)


def test_bad_layer_arguments_name_the_value():
    with pytest.raises(ValueError, match="emb_size must be divisible by num_head, received: emb_size=10, num_head=4"):
        NeighbourAttention(10, 4)
    with pytest.raises(ValueError, match="region_size must be >= 1, received: 0"):
        RegionEmbedding(5, 0, 8)


def test_windowed_region_meets_neighbours_around_each_position():
    layer = RegionEmbedding(num_lcu=2, region_size=3, emb_size=1, mode="window")
    layer.build()
    layer.table.assign(np.array([[[0.0], [0.0], [0.0]], [[1.0], [10.0], [100.0]]], dtype="float32"))
    ids = np.ones((1, 3), dtype="int32")
    e = np.array([[[1.0], [2.0], [3.0]]], dtype="float32")  # neighbours 1, 2, 3
    out = to_numpy(layer(ids, e))
    # row t meets the neighbour at l + t - 1: (left, self, right), zero outside
    np.testing.assert_allclose(out[0], [[0, 10, 200], [1, 20, 300], [2, 30, 0]])
    reference = RegionEmbedding(num_lcu=2, region_size=3, emb_size=1)
    reference.build()
    reference.table.assign(to_numpy(layer.table))
    np.testing.assert_allclose(to_numpy(reference(ids, e))[0], [[1, 10, 100], [2, 20, 200], [3, 30, 300]])
    shared = np.array([[2.0]], dtype="float32")  # the item side: both modes agree
    np.testing.assert_allclose(to_numpy(layer(ids, shared)), to_numpy(reference(ids, shared)))


def test_window_mode_model_trains_shapes():
    model = make(Config(**SMALL, region_mode="window"))
    assert to_numpy(model(batch())).shape == (B, 5)


@pytest.mark.parametrize("rate, bits", [(0.5, 1), (0.25, 2), (0.375, 3), (0.1, None)])
def test_bit_dropout_keeps_each_element_with_probability_one_minus_rate(rate, bits):
    from arerec.model.layers import BitDropout

    layer = BitDropout(rate, seed=3)
    assert layer.bits == bits
    x = np.ones((64, 50, 7, 64), dtype="float32")
    y = to_numpy(layer(x, training=True))
    kept = y != 0
    np.testing.assert_allclose(np.unique(y[kept]), [1 / (1 - rate)], rtol=1e-6)  # survivors scaled by 1 / (1 - rate)
    n = kept.size  # 1.4 M draws: the share kept is within 5 standard errors of 1 - rate
    assert abs(kept.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
    # no structure along the last axis (one random word serves 30 // bits neighbouring elements)
    assert np.abs(kept.mean(axis=(0, 1, 2)) - (1 - rate)).max() < 6 * np.sqrt(rate * (1 - rate) / (64 * 50 * 7))
    np.testing.assert_array_equal(to_numpy(layer(x, training=False)), x)


def test_bit_dropout_masks_elements_independently():
    from arerec.model.layers import BitDropout

    kept = to_numpy(BitDropout(0.5, seed=1)(np.ones((20000, 64), "float32"), training=True)) != 0
    both = (kept[:, :-1] & kept[:, 1:]).mean()  # neighbours share a random word: still independent bits
    assert abs(both - 0.25) < 0.01
    assert abs(np.corrcoef(kept[:, 0], kept[:, 29])[0, 1]) < 0.03



@pytest.mark.parametrize("reread", [False, True])
@pytest.mark.parametrize("rate, d", [(0.3125, 64), (0.625, 9), (0.5, 31)])
def test_bit_dropout_mask_is_fixed_by_its_draws(rate, d, reread):
    """Element j keeps when bits [s, s + n) of word j // P are >= rate * 2^n, s = (j % P) * n: the layout the
    committed studies were trained with. Both formulations (``reread``, for a consumer that reads each element many
    times, and the reshape) give this mask from the same draws."""
    import keras

    from arerec.model.layers import BitDropout

    layer = BitDropout(rate, seed=5, reread=reread)
    x = np.ones((40, 3, d), dtype="float32")
    kept = to_numpy(layer(x, training=True)) != 0
    n = layer.bits
    per_word = BitDropout.WORD_BITS // n
    words = -(-d // per_word)
    draws = to_numpy(keras.random.randint((40, 3, words), 0, 2**BitDropout.WORD_BITS, dtype="int32",
                                          seed=keras.random.SeedGenerator(5)))
    fields = (draws[..., None] >> (np.arange(per_word) * n)) & (2**n - 1)  # [..., W, P]: word-major
    expected = fields.reshape(40, 3, words * per_word)[..., :d] >= round(rate * 2**n)
    np.testing.assert_array_equal(kept, expected)

def test_padded_lcu_tables_draw_the_same_rows_and_add_zero_rows():
    """distribution 'model' pads the tables to divide over the devices; the first num_lcu rows do not change."""
    import keras

    from arerec.config import Config
    from arerec.model.layers import ARERec, build_model

    cfg = Config(emb_size=8, region_size=3, num_head=2)
    shapes = dict(num_users=10, num_items=7, num_lcu=21, num_classes=5, max_seq=4)
    keras.utils.set_random_seed(3)
    plain = build_model(cfg, **shapes)
    keras.utils.set_random_seed(3)
    padded = build_model(cfg, **shapes, lcu_rows=24)
    assert isinstance(padded, ARERec)
    for a, b in zip(plain.variables, padded.variables, strict=True):
        a, b = to_numpy(a), to_numpy(b)
        if a.shape != b.shape:
            assert a.shape[0] == 21 and b.shape[0] == 24
            np.testing.assert_array_equal(b[:21], a)
            np.testing.assert_array_equal(b[21:], 0)
        else:
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="rows must be >= num_lcu"):
        build_model(cfg, **shapes, lcu_rows=20)


def test_layout_map_shards_only_the_lcu_tables_and_their_moments():
    import keras

    from arerec.model.layers import ARERec

    if keras.backend.backend() == "torch":  # Keras has no distribution library for PyTorch
        pytest.skip("keras.distribution is not implemented under KERAS_BACKEND=torch")
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), devices=keras.distribution.list_devices()[:1])
    layout = ARERec.get_layout_map(mesh)
    for path in ("k_iu/table", "k_ui/table"):  # the optimiser's moments take their tables' layouts
        assert tuple(layout[path].axes) == ("model", None, None), path
    for path in ("user_embedding/embeddings", "neighbour_attention/wq/kernel", "classifier/kernel"):
        assert layout[path] is None, path
