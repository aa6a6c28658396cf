"""StockPilot's forecasting package: data, models, plans. Never imports Streamlit; run it as ``python -m core``."""
