using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace McpEdge.Sessions;

/// <summary>
/// Seals <c>{replica, upstream value}</c> into an opaque token with AES-256-GCM and opens it again,
/// so that any edge replica that holds the key ring can route a session without shared state.
/// </summary>
/// <remarks>
/// Token: base64url (RFC 4648 §5, no padding) of
/// <c>version (1 byte = 1) ‖ key id (2, big-endian) ‖ nonce (12) ‖ ciphertext ‖ tag (16)</c>;
/// plaintext <c>destination id length (2) ‖ destination id (UTF-8) ‖ upstream value (UTF-8)</c>;
/// associated data <c>version ‖ kind ‖ server name (UTF-8)</c>, followed by <c>0 ‖ principal (UTF-8)</c>
/// when the request was authenticated (<see cref="Security.BearerAuthentication"/>), so a token of
/// one server, kind or principal never opens for another: a session id that leaks is of no use to
/// another user (MCP 2025-11-25 <c>basic/security_best_practices</c>, "Session Hijacking": bind
/// session ids to user-specific information). The result is visible ASCII, as MCP requires of session ids
/// (2025-11-25 basic/transports.mdx, "Session Management"). Thread-safe; the ring can be replaced
/// while requests run (<see cref="Replace"/>): each seal or open uses one ring throughout.
/// </remarks>
public sealed class SessionTokenSealer : IDisposable
{
    private const byte Version = 1;
    private const int HeaderSize = 1 + 2 + NonceSize;
    private const int NonceSize = 12;
    private const int TagSize = 16;

    /// <summary>The longest token accepted by <see cref="TryOpen"/>, in characters; longer ones are rejected before decoding.</summary>
    public const int MaxTokenLength = 4096;

    private volatile KeyedRing _keys;

    /// <summary>Creates a sealer over the ring.</summary>
    public SessionTokenSealer(SessionKeyRing ring) => _keys = new KeyedRing(ring);

    /// <summary>True when the ring is a random per-process key.</summary>
    public bool IsEphemeral => _keys.Ring.IsEphemeral;

    /// <summary>The ring in use.</summary>
    public SessionKeyRing Ring => _keys.Ring;

    /// <summary>
    /// Seals and opens with <paramref name="ring"/> from now on (<see cref="SessionKeyReloader"/>).
    /// Calls already running finish with the ring they started with, whose ciphers are left to the
    /// garbage collector rather than disposed under them.
    /// </summary>
    public void Replace(SessionKeyRing ring) => _keys = new KeyedRing(ring);

    /// <summary>Seals a target with the ring's first key.</summary>
    /// <param name="kind">What the token stands for.</param>
    /// <param name="server">The MCP server name (bound as associated data).</param>
    /// <param name="destinationId">The YARP destination id of the replica.</param>
    /// <param name="upstreamValue">The upstream session id, or POST path and query for <see cref="SessionTokenKind.LegacySse"/>.</param>
    /// <param name="principal">The authenticated principal the session belongs to, or null (bound as associated data).</param>
    public string Seal(SessionTokenKind kind, string server, string destinationId, string upstreamValue, string? principal = null)
    {
        var destLength = Encoding.UTF8.GetByteCount(destinationId);
        var plainLength = 2 + destLength + Encoding.UTF8.GetByteCount(upstreamValue);
        var tokenBytes = new byte[HeaderSize + plainLength + TagSize];
        var keys = _keys;
        var key = keys.Ring.Keys[0];

        tokenBytes[0] = Version;
        BinaryPrimitives.WriteUInt16BigEndian(tokenBytes.AsSpan(1), key.Id);
        var nonce = tokenBytes.AsSpan(3, NonceSize);
        RandomNumberGenerator.Fill(nonce);

        var plain = plainLength <= 512 ? stackalloc byte[plainLength] : new byte[plainLength];
        BinaryPrimitives.WriteUInt16BigEndian(plain, checked((ushort)destLength));
        Encoding.UTF8.GetBytes(destinationId, plain[2..]);
        Encoding.UTF8.GetBytes(upstreamValue, plain[(2 + destLength)..]);

        var aadLength = AadLength(server, principal);
        var aad = aadLength <= 512 ? stackalloc byte[aadLength] : new byte[aadLength];
        WriteAad(aad, kind, server, principal);
        keys.Ciphers[0].Value!.Encrypt(nonce, plain, tokenBytes.AsSpan(HeaderSize, plainLength), tokenBytes.AsSpan(HeaderSize + plainLength), aad);
        return Base64Url.EncodeToString(tokenBytes);
    }

    /// <summary>
    /// Opens a token. False when it is malformed, too long, sealed with a key not in the ring,
    /// tampered with, or sealed for another server, kind or principal.
    /// </summary>
    /// <param name="kind">What the token must stand for.</param>
    /// <param name="server">The MCP server name the request is for.</param>
    /// <param name="token">The token the client sent.</param>
    /// <param name="target">The replica and upstream value, when it opens.</param>
    /// <param name="principal">The request's authenticated principal, or null; must be the one the token was sealed for.</param>
    public bool TryOpen(SessionTokenKind kind, string server, string? token, out SessionTarget target, string? principal = null)
    {
        target = default;
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return false;
        }
        Span<byte> bytes = stackalloc byte[Base64Url.GetMaxDecodedLength(token.Length)];
        // The OperationStatus overload reports bad input; the Try* overload throws on it.
        if (Base64Url.DecodeFromChars(token, bytes, out _, out var written) != System.Buffers.OperationStatus.Done
            || written < HeaderSize + 2 + TagSize || bytes[0] != Version)
        {
            return false;
        }
        bytes = bytes[..written];
        var keyId = BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]);
        var keys = _keys;
        var keyIndex = -1;
        for (var i = 0; i < keys.Ring.Keys.Count; i++)
        {
            if (keys.Ring.Keys[i].Id == keyId)
            {
                keyIndex = i;
                break;
            }
        }
        if (keyIndex < 0)
        {
            return false;
        }

        var plainLength = written - HeaderSize - TagSize;
        Span<byte> plain = stackalloc byte[plainLength];
        var aadLength = AadLength(server, principal);
        var aad = aadLength <= 512 ? stackalloc byte[aadLength] : new byte[aadLength];
        WriteAad(aad, kind, server, principal);
        try
        {
            keys.Ciphers[keyIndex].Value!.Decrypt(bytes.Slice(3, NonceSize), bytes.Slice(HeaderSize, plainLength), bytes[(HeaderSize + plainLength)..], plain, aad);
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }

        int destLength = BinaryPrimitives.ReadUInt16BigEndian(plain);
        if (destLength > plainLength - 2)
        {
            return false;
        }
        target = new SessionTarget(
            Encoding.UTF8.GetString(plain.Slice(2, destLength)),
            Encoding.UTF8.GetString(plain[(2 + destLength)..]));
        return true;
    }

    private static int AadLength(string server, string? principal) =>
        2 + Encoding.UTF8.GetByteCount(server) + (principal is null ? 0 : 1 + Encoding.UTF8.GetByteCount(principal));

    private static void WriteAad(Span<byte> aad, SessionTokenKind kind, string server, string? principal)
    {
        aad[0] = Version;
        aad[1] = (byte)kind;
        var written = 2 + Encoding.UTF8.GetBytes(server, aad[2..]);
        if (principal is not null)
        {
            // A server name holds no NUL (letters, digits, '.', '_', '-'), so the separator keeps the two apart.
            aad[written] = 0;
            Encoding.UTF8.GetBytes(principal, aad[(written + 1)..]);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var local in _keys.Ciphers)
        {
            foreach (var cipher in local.Values)
            {
                cipher.Dispose();
            }
            local.Dispose();
        }
    }

    /// <summary>A ring and its ciphers: AesGcm instances are not safe for concurrent use, so one per key and thread.</summary>
    private sealed class KeyedRing(SessionKeyRing ring)
    {
        public SessionKeyRing Ring { get; } = ring;

        public ThreadLocal<AesGcm>[] Ciphers { get; } =
            ring.Keys.Select(k => new ThreadLocal<AesGcm>(() => new AesGcm(k.Key, TagSize), trackAllValues: true)).ToArray();
    }
}
