raise ValueError("ünïcödé message ✓ 🐍 — with a long dash")
