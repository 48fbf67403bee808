namespace FastBft.Workloads;
