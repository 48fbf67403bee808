System.Console.WriteLine("fastbft");
