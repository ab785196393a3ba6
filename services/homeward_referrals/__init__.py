"""The referral router: rescues become referrals to the responsible agencies,
answers move them along the FHIR Task lifecycle, and missed deadlines (of
referrals and of mandatory reports) go to the coordination office."""
