print("qrpos")
