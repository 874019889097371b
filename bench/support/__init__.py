"""Helpers of the bench scripts (not scripts themselves): hand-written baselines, seeding, peers."""
