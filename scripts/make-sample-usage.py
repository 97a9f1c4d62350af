#!/usr/bin/env python3
"""Writes Fixtures/sample-usage.jsonl: a small, deterministic sample of usage records.

Call sizes are real: each record takes its input and output token counts from a row of the Azure
LLM inference trace 2023 (code and conversation services, CC BY 4.0, see shared/data/SOURCES.md).
Costs are exact: per-token prices from the LiteLLM price map, multiplied as decimals (never
floats) and rounded half-even to nano-dollars.

    python3 scripts/make-sample-usage.py ../shared/data > Fixtures/sample-usage.jsonl
"""
import csv, decimal, json, random, sys, uuid
from decimal import Decimal

data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
rng = random.Random(20261123)
prices = json.load(open(f"{data}/litellm_model_prices.json"), parse_float=Decimal)
models = {"gpt-4o-mini": "openai", "gpt-4o": "openai", "claude-sonnet-4-5": "anthropic", "gpt-3.5-turbo": "openai"}
rows = []
for name in ("code", "conv"):
    with open(f"{data}/AzureLLMInferenceTrace_{name}.csv", newline="") as f:
        rows += [(int(r["ContextTokens"]), int(r["GeneratedTokens"])) for r in csv.DictReader(f)]
clients = ["acme", "globex", "initech"]
start = 1795392000  # 2026-11-22T00:00:00Z
nano = Decimal("0.000000001")
for i in range(240):
    agent = f"agent-{i % 12 + 1}"
    model = list(models)[i % 4]
    input_tokens, output_tokens = rng.choice(rows)
    p = prices[model]
    cost = (Decimal(input_tokens) * p["input_cost_per_token"] + Decimal(output_tokens) * p["output_cost_per_token"])
    cost = cost.quantize(nano, rounding=decimal.ROUND_HALF_EVEN)
    t = start + i * 300 + rng.randrange(0, 300)
    record = {
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "time": f"2026-11-22T{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}.{rng.randrange(1000):03d}Z",
        "agent": agent, "run": f"run-{i // 6 + 1}", "client": clients[i % 3],
        "project": f"project-{i % 5 + 1}", "task": f"task-{i // 3 + 1}", "model": model, "vendor": models[model],
        "kind": "llm", "input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": 0,
        "reasoning_tokens": 0, "tool_calls": rng.randrange(3), "retry": 0, "latency_ms": rng.randrange(200, 4000),
        "cost_usd": format(cost.normalize(), "f"),
    }
    print(json.dumps(record, separators=(",", ":")))
