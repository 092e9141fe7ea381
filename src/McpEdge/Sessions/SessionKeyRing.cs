using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using McpEdge.Configuration;

namespace McpEdge.Sessions;

/// <summary>
/// The AES-256 keys that seal session tokens: the first seals, all open. Each key is derived once
/// from its configured secret with HKDF-SHA256 (RFC 5869) and identified in tokens by a 16-bit
/// key id taken from SHA-256 of the derived key, so that opening a token costs one AES-GCM
/// decryption and never a key derivation.
/// </summary>
public sealed class SessionKeyRing
{
    private static readonly byte[] Salt = "McpEdge session token"u8.ToArray();
    private static readonly byte[] Info = "aes-256-gcm v1"u8.ToArray();

    private SessionKeyRing(IReadOnlyList<SessionKey> keys, bool isEphemeral)
    {
        Keys = keys;
        IsEphemeral = isEphemeral;
    }

    /// <summary>The keys, the sealing key first.</summary>
    public IReadOnlyList<SessionKey> Keys { get; }

    /// <summary>True when no key was configured and a random per-process key is in use.</summary>
    public bool IsEphemeral { get; }

    /// <summary>Builds the ring from <see cref="McpSessionOptions.Keys"/> then the lines of <see cref="McpSessionOptions.KeyFile"/>; a random key when both are empty.</summary>
    /// <exception cref="McpEdgeConfigurationException">A secret is too short, or two secrets share a key id.</exception>
    /// <exception cref="IOException">The key file cannot be read.</exception>
    public static SessionKeyRing FromOptions(McpSessionOptions options) => FromSecrets(ReadSecrets(options));

    /// <summary>
    /// The configured secrets in ring order (<see cref="McpSessionOptions.Keys"/>, then the key file's
    /// lines but blank ones and <c>#</c> comments), each with the setting it came from for error messages.
    /// </summary>
    /// <exception cref="IOException">The key file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The key file may not be read.</exception>
    internal static IReadOnlyList<(string Setting, string Secret)> ReadSecrets(McpSessionOptions options)
    {
        var secrets = new List<(string Setting, string Secret)>();
        for (var i = 0; i < options.Keys.Count; i++)
        {
            secrets.Add(($"{McpEdgeOptions.SectionName}:Sessions:Keys:{i}", options.Keys[i]));
        }
        if (options.KeyFile is { Length: > 0 } file)
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var line = lines[i].Trim();
                if (line.Length > 0 && !line.StartsWith('#'))
                {
                    secrets.Add(($"{McpEdgeOptions.SectionName}:Sessions:KeyFile ({file}, line {i + 1})", line));
                }
            }
        }
        return secrets;
    }

    /// <summary>Derives the ring from <paramref name="secrets"/> (<see cref="ReadSecrets"/>); a random key when there are none.</summary>
    /// <exception cref="McpEdgeConfigurationException">A secret is too short, or two secrets share a key id; one line per problem, naming the setting, never the secret.</exception>
    internal static SessionKeyRing FromSecrets(IReadOnlyList<(string Setting, string Secret)> secrets)
    {
        if (secrets.Count == 0)
        {
            return new SessionKeyRing([new SessionKey(RandomNumberGenerator.GetBytes(32))], isEphemeral: true);
        }

        var errors = new List<string>();
        var keys = new List<SessionKey>();
        foreach (var (setting, secret) in secrets)
        {
            if (secret.Length < McpEdgeOptionsValidator.MinimumKeyLength)
            {
                errors.Add($"{setting}: a session key must be a secret of at least {McpEdgeOptionsValidator.MinimumKeyLength} characters.");
                continue;
            }
            var key = new SessionKey(HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, Salt, Info));
            if (keys.Any(k => k.Id == key.Id))
            {
                errors.Add($"{setting}: this secret repeats another key (or shares its 16-bit key id); use distinct secrets.");
                continue;
            }
            keys.Add(key);
        }
        if (errors.Count > 0)
        {
            throw new McpEdgeConfigurationException(errors);
        }
        return new SessionKeyRing(keys, isEphemeral: false);
    }

    /// <summary>
    /// This ring with <paramref name="key"/> added last, to open tokens only, unless a key of the
    /// same id is in it already. Used to keep the random key's sessions when configured keys replace it.
    /// </summary>
    internal SessionKeyRing WithOpeningKey(SessionKey key) =>
        Keys.Any(k => k.Id == key.Id) ? this : new SessionKeyRing([.. Keys, key], IsEphemeral);

    /// <summary>Whether both rings hold the same keys in the same order (so seal and open alike); compared by key, not by the 16-bit id two keys may share.</summary>
    internal bool SameKeysAs(SessionKeyRing other) =>
        Keys.Count == other.Keys.Count && Keys.Zip(other.Keys).All(pair => pair.First.Key.AsSpan().SequenceEqual(pair.Second.Key));

    /// <summary>The key ids, the sealing key first, as <see cref="SessionKey.Hex"/>, comma-separated: what logs and <c>--check</c> show.</summary>
    public string KeyIds => string.Join(", ", Keys.Select(k => k.Hex));

    /// <summary>A ring with the given raw 32-byte keys, the first sealing (for tests and benchmarks).</summary>
    public static SessionKeyRing FromRawKeys(params byte[][] keys) => new(keys.Select(k => new SessionKey(k)).ToArray(), isEphemeral: false);
}

/// <summary>One derived AES-256 key and its 16-bit id.</summary>
public sealed class SessionKey
{
    internal SessionKey(byte[] key)
    {
        if (key.Length != 32)
        {
            throw new ArgumentException("A session key is 32 bytes (AES-256).", nameof(key));
        }
        Key = key;
        Id = BinaryPrimitives.ReadUInt16BigEndian(SHA256.HashData(key));
    }

    /// <summary>The 32-byte AES key.</summary>
    internal byte[] Key { get; }

    /// <summary>The id written into tokens sealed with this key.</summary>
    public ushort Id { get; }

    /// <summary>
    /// <see cref="Id"/> as four lowercase hex digits (<c>1a2b</c>), as logs, metrics and <c>--check</c>
    /// show it. Every token carries its key id in the clear, and 16 bits of a hash of the derived key
    /// say nothing about the secret, so showing it costs nothing and lets operators see that every
    /// edge replica holds the same ring.
    /// </summary>
    public string Hex => Id.ToString("x4", System.Globalization.CultureInfo.InvariantCulture);
}
