namespace FastBft.TrustedHw;
