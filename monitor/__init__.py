"""household-risk-monitor: streaming risk monitoring of low-income households (the engine)."""
