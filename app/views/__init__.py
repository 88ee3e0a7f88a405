"""Pure view-model helpers: ios_core objects in, DOT text / plotly figures / table rows out.

Nothing here imports streamlit, so every helper is unit-testable without a running app.
"""
