"""The CPU warm start's label-only LM head computes TRL's own SFT loss."""

import json

import pytest
from conftest import SMALL_ENV


def test_the_label_only_head_loss_equals_trl_sft_loss(model, tokenizer, tmp_path):
    torch = pytest.importorskip("torch")
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from toolgym_train.config import ToolGymTrainConfig
    from toolgym_train.sft import _trainer_class, oracle_rows

    config = ToolGymTrainConfig(env_id="ToolGym/SingleHop-v0", env_kwargs=SMALL_ENV, max_turns=4)
    rows = oracle_rows(config, 4, first_seed=0)
    assert json.loads(rows[0]["tools"])
    args = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, assistant_only_loss=True,
                     max_length=4096, report_to="none", gradient_checkpointing=False, bf16=False)
    dataset = Dataset.from_list(rows)
    trl_trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    ours = _trainer_class(SFTTrainer)(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    batch = next(iter(trl_trainer.get_train_dataloader()))
    assert (batch["labels"] != -100).any()
    with torch.no_grad():
        expected = trl_trainer.compute_loss(model, dict(batch))
        got = ours.compute_loss(model, dict(batch))
    assert got.item() == pytest.approx(expected.item(), rel=1e-4)
