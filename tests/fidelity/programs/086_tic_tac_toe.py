LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def winner(board):
    for a, b, c in LINES:
        if board[a] != " " and board[a] == board[b] == board[c]:
            return board[a]
    return None


def minimax(board, player):
    w = winner(board)
    if w:
        return (1 if w == "X" else -1), None
    if " " not in board:
        return 0, None
    best = None
    for i in range(9):
        if board[i] == " ":
            board[i] = player
            score, _ = minimax(board, "O" if player == "X" else "X")
            board[i] = " "
            if best is None or (player == "X" and score > best[0]) or (player == "O" and score < best[0]):
                best = (score, i)
    return best


def show(board):
    for r in range(3):
        print(" | ".join(board[r * 3:r * 3 + 3]))


board = list("XO X  O  ")
show(board)
print(minimax(board, "X"))
