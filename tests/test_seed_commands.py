"""The seed README's commands, word for word, through ``python -m arerec``'s parser and the grouped configuration.

The original scripts were ``python dataset.py ...`` and ``python run.py ...``; ``dataset`` and ``run`` are the kit's
aliases of ``prepare`` and ``train``. Each command below is the seed README's (its quoting included, as a shell
would split it), and each must give the configuration the original would have run: the same data version, schedule,
model and run name.
"""

from __future__ import annotations

import shlex

from arerec import cli
from arerec.train.runs import model_name

PREPARE = """dataset --data_path Data/ --dataset ml-1m --min_seq 20 --test_ratio 0.2 --batch_size 128
             --data_percent 1.0"""
DETAILS = "dataset --dataset ml-1m --show_details 'ml-1m_8020_minseq20_bs128_dper1.0'"
TRAIN = """run --dataset ml-1m --data_version 'ml-1m_8020_minseq20_bs128_dper1.0' --save_checkpoints_epochs 2
           --epochs 2 --batch_size 128 --region_size 7 --emb_size 64 --use_attention 1 --num_head 2 --max_seq 327
           --lr 0.0001"""
RESUME = """run --dataset ml-1m --data_version ml-1m_8020_minseq20_bs128_dper1.0 --load_model 1
            --model_name 'ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2' --use_attention 1
            --load_weight_path 'cp-0002.ckpt' --epochs 4 --save_checkpoints_epochs 2"""


def configured(command: str):
    args = cli.build_parser().parse_args(shlex.split(command))
    return args, cli.config_from(args)


def test_the_prepare_command_gives_the_seed_data_version():
    args, cfg = configured(PREPARE)
    assert args.func is cli.cmd_prepare
    assert (cfg.data.data_path, cfg.data.dataset, cfg.data.min_seq, cfg.data.test_ratio, cfg.data.batch_size,
            cfg.data.data_percent) == ("Data/", "ml-1m", 20, 0.2, 128, 1.0)


def test_the_details_command_names_its_version():
    args, cfg = configured(DETAILS)
    assert args.func is cli.cmd_prepare and args.show_details == "ml-1m_8020_minseq20_bs128_dper1.0"
    assert cfg.data.dataset == "ml-1m"


def test_the_run_command_trains_the_seed_model_under_the_seed_name():
    args, cfg = configured(TRAIN)
    assert args.func is cli.cmd_train
    assert cfg.data.data_version == "ml-1m_8020_minseq20_bs128_dper1.0"
    assert (cfg.training.epochs, cfg.training.save_checkpoints_epochs, cfg.training.lr) == (2, 2, 0.0001)
    assert (cfg.model.region_size, cfg.model.emb_size, cfg.model.num_head, cfg.model.max_seq) == (7, 64, 2, 327)
    assert cfg.model.use_attention is True  # the original's 1, a boolean of its group
    assert model_name(cfg, cfg.model.max_seq) == "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2"


def test_the_resume_command_loads_cp_0002_and_trains_to_epoch_4():
    args, cfg = configured(RESUME)
    assert args.func is cli.cmd_train
    assert cfg.training.load_model is True
    assert cfg.training.model_name == "ml-1m_8020_bs128_lr0.0001_emb64_reg7_ms327_opadam_h2"
    assert (cfg.training.load_weight_path, cfg.training.epochs) == ("cp-0002.ckpt", 4)

