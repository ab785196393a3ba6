"""The health-record anomaly detector (digest flow 4): a Faust app that reads
hospitals' records and raises anomalies to the police."""
