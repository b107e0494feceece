"""Fake OpenAI, Anthropic and Bedrock servers on 127.0.0.1 speaking the real wire protocols,
for driving the real SDK clients in tests, benchmarks and the local stack.

    with start_fakes() as fakes:
        os.environ.update(fakes.env())         # OPENAI_BASE_URL, ANTHROPIC_BASE_URL, ...
        fakes.anthropic.script(Behaviour("rate_limit", retry_after_s=1))
        fakes.openai.set_default(Behaviour("ok", delay_s=0.5))
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tests.fakes.anthropic_fake import FakeAnthropic
from tests.fakes.bedrock_fake import FakeBedrock
from tests.fakes.openai_fake import FakeOpenAI
from tests.fakes.scenario import Scenario, assessment, invalid_assessment, steered_assessment
from tests.fakes.server import Behaviour, FakeProviderServer, RecordedRequest

FAKE_OPENAI_KEY = "sk-fake-openai-key"
FAKE_ANTHROPIC_KEY = "sk-ant-fake-anthropic-key"

__all__ = [
    "FAKE_ANTHROPIC_KEY",
    "FAKE_OPENAI_KEY",
    "Behaviour",
    "FakeAnthropic",
    "FakeBedrock",
    "FakeOpenAI",
    "FakeProviderServer",
    "FakeSet",
    "RecordedRequest",
    "Scenario",
    "assessment",
    "invalid_assessment",
    "start_fakes",
    "steered_assessment",
]


@dataclass(frozen=True)
class FakeSet:
    openai: FakeOpenAI
    anthropic: FakeAnthropic
    bedrock: FakeBedrock

    @property
    def all(self) -> tuple[FakeProviderServer, ...]:
        return (self.openai, self.anthropic, self.bedrock)

    def by_name(self, name: str) -> FakeProviderServer:
        return {"openai": self.openai, "anthropic": self.anthropic, "bedrock": self.bedrock}[name]

    def reset(self) -> None:
        for fake in self.all:
            fake.reset()

    def set_default(self, behaviour: Behaviour) -> None:
        for fake in self.all:
            fake.set_default(behaviour)

    def env(self) -> dict[str, str]:
        """The SDKs' standard variables pointing at these fakes, with fake API keys."""
        return {
            "OPENAI_BASE_URL": f"{self.openai.url}/v1",
            "OPENAI_API_KEY": FAKE_OPENAI_KEY,
            "ANTHROPIC_BASE_URL": self.anthropic.url,
            "ANTHROPIC_API_KEY": FAKE_ANTHROPIC_KEY,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.bedrock.url,
        }


@contextmanager
def start_fakes(
    port_base: int | None = None, scenario: Scenario | None = None
) -> Iterator[FakeSet]:
    """The three fakes on 127.0.0.1: free ports, or port_base, port_base+1, port_base+2."""
    ports = (0, 0, 0) if port_base is None else (port_base, port_base + 1, port_base + 2)
    with ExitStack() as stack:
        servers = []
        for cls, port in zip((FakeOpenAI, FakeAnthropic, FakeBedrock), ports, strict=True):
            server = cls(port=port, scenario=scenario).start()
            stack.callback(server.stop)
            servers.append(server)
        openai_fake, anthropic_fake, bedrock_fake = servers
        assert isinstance(openai_fake, FakeOpenAI)
        assert isinstance(anthropic_fake, FakeAnthropic)
        assert isinstance(bedrock_fake, FakeBedrock)
        yield FakeSet(openai_fake, anthropic_fake, bedrock_fake)
